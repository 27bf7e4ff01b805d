"""Score pipeline benchmark: `python -m benchmarks.scores [--small 10] [--large 500] [--rows 10000] [--workdir DIR]`.

(a) Incremental cost of one new batch against history size. Two scratch warehouses are filled with synthetic
    batches (`--small` and `--large` batches of history), fully built once (untimed), then one new batch is landed
    and `dbt build` is timed as the scheduler runs it (`--vars {test_since_batch: <new batch>}`: data tests on
    the append-only tables check the new batch's rows); a further batch is landed and `dbt run` (models only) is
    timed, then `dbt test` on every row (the periodic full audit), so the growth can be pinned on tests or on
    models. If the incremental models really only touch the new batch, the large/small ratios stay near 1.
(b) Throughput of the percentile SQL against a plain pandas implementation, over all `--large` batches (a copy of
    the large warehouse taken right after its full build): the full-refresh form of `percentile_history`, run
    directly in DuckDB and through `dbt run --full-refresh`, in (iteration, id) rows per second.

Everything lives in a scratch folder (a fresh temporary one unless `--workdir` is given) with its own DuckDB
files; dbt runs as a subprocess, as `make build` runs it, on this checkout's models unless `--project-dir` points
at another copy of the project (e.g. a `git archive` of a commit, to measure it while the tree is being edited).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import yaml
from scipy.stats import norm

from ingestion.score_batches import land_score_batch
from ingestion.settings import PROJECT_ROOT
from ingestion.warehouse import connect
from synthetic.score_batches import write_score_batches

# The score pipeline and everything downstream of it, seed included: what `dbt build` does when a batch lands.
# Selected explicitly so that other pipelines (the document models, whose raw tables a score-only warehouse
# does not have) neither fail the run nor add to the timings.
SCORE_PIPELINE = "source:raw.score_batches+ known_industries+"
DBT = Path(sys.executable).parent / "dbt"
COMPILED_PERCENTILE_HISTORY = Path("compiled", "ml_platform", "models", "marts", "scores", "percentile_history.sql")
# above this share of the machine busy with other work, the summary flags its figures as contended
CONTENTION_WARNING = 0.10
_START = time.perf_counter()


def log(message: str = "") -> None:
    print(f"[{time.perf_counter() - _START:7.1f}s] {message}" if message else "", flush=True)


def _machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (all processes), None where /proc/stat is absent."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    """CPU seconds of this process (DuckDB's threads included) and of its finished children (dbt)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class Stopwatch:
    """Wall time of a block, and the share of the machine that other processes used meanwhile.

    The benchmark may share its machine with other work (a test suite, another build); on a small machine that
    alone can double a timing. The share is busy CPU time from /proc/stat minus this process's and its
    children's, over wall time x CPUs, so a contended figure can be told from a clean one.
    """

    seconds: float = float("nan")
    foreign: float | None = None  # 0.0 = the machine was ours alone; 0.5 = half of it was busy elsewhere

    def __enter__(self) -> "Stopwatch":
        self._busy, self._own, self._start = _machine_busy_seconds(), _own_cpu_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.seconds = time.perf_counter() - self._start
        busy, own = _machine_busy_seconds(), _own_cpu_seconds()
        # /proc/stat counts in clock ticks (10 ms): below a second the share would be mostly rounding
        if busy is not None and self._busy is not None and self.seconds >= 1.0:
            other = (busy - self._busy) - (own - self._own)
            self.foreign = min(1.0, max(0.0, other / (self.seconds * (os.cpu_count() or 1))))


def share(foreign: float | None) -> str:
    return "n/a" if foreign is None else f"{100 * foreign:.0f}%"


def window_batches(project_dir: Path) -> int:
    """The percentile window from dbt_project.yml, so pandas computes exactly what the model computes."""
    project = yaml.safe_load((project_dir / "dbt_project.yml").read_text())
    return int(project["vars"]["percentile_window_batches"])


# --- machine -----------------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    memory = "unknown"
    try:
        cpu = next(
            line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        kib = next(
            int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
        memory = f"{kib / 1024**2:.1f} GiB"
    except (OSError, StopIteration):
        pass  # not Linux: keep what platform knows
    return {
        "nproc": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
        "cpu": cpu,
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "dbt-core": metadata.version("dbt-core"),
        "dbt-duckdb": metadata.version("dbt-duckdb"),
        "pandas": pd.__version__,
    }


# --- dbt ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DbtRun:
    label: str
    wall: float  # the whole subprocess: interpreter start-up, parsing, execution
    elapsed: float  # dbt's own execution time (run_results.json), without start-up and parsing
    nodes: dict[str, float]  # unique_id -> execution_time
    foreign: float | None  # share of the machine other processes used meanwhile (see Stopwatch)

    @property
    def node_total(self) -> float:
        return sum(self.nodes.values())

    def total_by_kind(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for unique_id, seconds in self.nodes.items():
            kind = unique_id.split(".", 1)[0]
            totals[kind] = totals.get(kind, 0.0) + seconds
        return totals


class Dbt:
    """dbt in a subprocess against one DuckDB file (dbt-duckdb holds its connection for the life of the process,
    so in-process dbt would lock the file against the benchmark's own landing and reads)."""

    project_dir = PROJECT_ROOT  # main() may point it at another copy of the project

    def __init__(self, duckdb_path: Path, target_path: Path):
        self.duckdb_path = duckdb_path
        # one target folder per warehouse: partial parsing is reused between runs, as in a long-lived checkout
        self.target_path = target_path
        self.results_path = target_path.parent / "run_results"
        self.results_path.mkdir(parents=True, exist_ok=True)

    def __call__(self, label: str, *args: str) -> DbtRun:
        env = {
            **os.environ,
            "DUCKDB_PATH": str(self.duckdb_path),
            "DBT_PROFILES_DIR": str(PROJECT_ROOT),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
        command = [
            str(DBT), *args, "--project-dir", str(self.project_dir),
            "--target-path", str(self.target_path), "--log-path", str(self.target_path / "logs"),
        ]
        with Stopwatch() as watch:
            result = subprocess.run(command, cwd=self.project_dir, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"dbt {' '.join(args)} failed:\n{result.stdout[-5000:]}\n{result.stderr[-2000:]}")
        # every dbt command overwrites run_results.json: keep each one under its label
        kept = self.results_path / f"{label}.json"
        shutil.copyfile(self.target_path / "run_results.json", kept)
        results = json.loads(kept.read_text())
        nodes = {node["unique_id"]: float(node["execution_time"]) for node in results["results"]}
        return DbtRun(label, watch.seconds, float(results["elapsed_time"]), nodes, watch.foreign)


def short_name(unique_id: str) -> str:
    """`test.ml_platform.unique_scores_id.6f0d..` -> `test unique_scores_id` (project and hash dropped)."""
    parts = unique_id.split(".")
    return f"{parts[0]} {parts[2] if len(parts) > 2 else unique_id}"


def describe(run: DbtRun) -> str:
    kinds = ", ".join(f"{kind}s {seconds:.2f}" for kind, seconds in sorted(run.total_by_kind().items()))
    return (
        f"wall {run.wall:6.2f} s | dbt elapsed {run.elapsed:6.2f} s | sum of {len(run.nodes)} nodes "
        f"{run.node_total:6.2f} s ({kinds}) | other processes {share(run.foreign)} of the machine"
    )


# --- (a) one new batch against history ---------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    history: int  # batches landed and built before the timed batch
    land_seconds: float  # landing the history, all files
    land_first_ms: float  # mean per file over the first files of the history
    land_last_ms: float  # ... and over the last ones (does landing slow down as raw grows?)
    full_build: DbtRun  # the one-off build of the history: not compared, shown for reference
    land_new_seconds: float
    build: DbtRun  # `dbt build` after one new batch, data tests on the new batch's rows (as scheduled)
    run: DbtRun  # `dbt run` after a further new batch
    audit: DbtRun  # `dbt test` on every row (the periodic full audit)
    table_rows: dict[str, int]


def land(duckdb_path: Path, paths: list[Path], progress_every: int = 0) -> list[float]:
    """Land the files in order through the project's own loader; return each file's seconds."""
    seconds = []
    with connect(duckdb_path) as con:
        for number, path in enumerate(paths, 1):
            start = time.perf_counter()
            result = land_score_batch(con, path)
            seconds.append(time.perf_counter() - start)
            if result.status != "landed":
                raise RuntimeError(f"{path}: {result.status}, expected a new batch (stale warehouse?)")
            if progress_every and number % progress_every == 0:
                recent = seconds[-progress_every:]
                log(f"  landed {number}/{len(paths)} files, last {len(recent)} at {1000 * np.mean(recent):.0f} ms/file")
    return seconds


def table_rows(duckdb_path: Path) -> dict[str, int]:
    tables = [
        "raw.score_batches", "int_score_records_validated", "percentile_history", "scores",
        "industry_distribution_history", "score_rejects",
    ]
    with connect(duckdb_path, read_only=True) as con:
        return {table: con.execute(f"select count(*) from {table}").fetchone()[0] for table in tables}


def run_scenario(name: str, history: int, batches: list[Path], folder: Path, snapshot: Path | None = None) -> Scenario:
    """Land `history` batches, build them (untimed), then time one new batch's `dbt build` and a further
    batch's `dbt run`. With `snapshot`, the warehouse is copied there right after the history's build."""
    log(f"scenario {name}: {history} batches of history")
    folder.mkdir(parents=True)
    warehouse = folder / "warehouse.duckdb"
    dbt = Dbt(warehouse, folder / "target")

    per_file = land(warehouse, batches[:history], progress_every=100 if history >= 200 else 0)
    sample = min(10, history)
    land_first_ms, land_last_ms = 1000 * np.mean(per_file[:sample]), 1000 * np.mean(per_file[-sample:])
    log(f"  landed {history} batches in {sum(per_file):.1f} s "
        f"(first {sample}: {land_first_ms:.0f} ms/file, last {sample}: {land_last_ms:.0f} ms/file)")

    full_build = dbt("full_build", "build", "--select", SCORE_PIPELINE)
    log(f"  full build of the history (untimed): {describe(full_build)}")
    if snapshot is not None:
        snapshot.parent.mkdir(parents=True)
        shutil.copyfile(warehouse, snapshot)  # dbt has exited: the file is checkpointed, no WAL to copy

    land_new_seconds = sum(land(warehouse, [batches[history]]))
    # as the scheduler runs it: data tests on append-only tables see the rows of the batch it landed
    build = dbt("build_one_batch", "build", "--select", SCORE_PIPELINE, "--vars", f"{{test_since_batch: {history}}}")
    log(f"  batch {history} landed in {land_new_seconds:.2f} s; dbt build: {describe(build)}")

    land(warehouse, [batches[history + 1]])
    run = dbt("run_one_batch", "run", "--select", SCORE_PIPELINE)
    log(f"  batch {history + 1} landed; dbt run (models only): {describe(run)}")

    audit = dbt("full_audit", "test", "--select", SCORE_PIPELINE)
    log(f"  dbt test on every row (full audit): {describe(audit)}")

    rows = table_rows(warehouse)
    log("  rows after: " + ", ".join(f"{table} {count:,}" for table, count in rows.items()))
    return Scenario(
        name, history, sum(per_file), land_first_ms, land_last_ms, full_build, land_new_seconds, build, run, audit,
        rows,
    )


def slowest_nodes(small: DbtRun, large: DbtRun, count: int = 5) -> list[tuple[str, float, float]]:
    """The large run's slowest nodes, each with the same node's time in the small run."""
    ranked = sorted(large.nodes.items(), key=lambda item: item[1], reverse=True)[:count]
    return [(unique_id, small.nodes.get(unique_id, float("nan")), seconds) for unique_id, seconds in ranked]


# --- (b) percentile throughput: SQL vs pandas --------------------------------------------------------------


def pandas_percentiles(clean: pd.DataFrame, window: int) -> pd.DataFrame:
    """percentile_history in plain pandas. `clean` must be sorted by batch (then record_index)."""
    batch = clean["batch"].to_numpy()
    first, last = int(batch[0]), int(batch[-1])
    parts = []
    for iteration in range(first + window - 1, last + 1):
        # rows are in batch order, so a window is one contiguous slice
        lo = np.searchsorted(batch, iteration - window + 1, side="left")
        hi = np.searchsorted(batch, iteration, side="right")
        # an asset scored again within a window counts once with its latest score, as in the model
        frame = clean.iloc[lo:hi].drop_duplicates("id", keep="last")
        by_industry = frame.groupby("industry", sort=False)["score"]
        mean = by_industry.transform("mean").to_numpy()
        std = by_industry.transform("std").to_numpy()  # ddof=1, like stddev_samp; NaN for a single score
        score = frame["score"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(std > 0, (score - mean) / std, np.nan)  # no spread, no normal percentile
        parts.append(
            pd.DataFrame({
                "iteration": iteration,
                "id": frame["id"].to_numpy(),
                "batch": frame["batch"].to_numpy(),
                "industry": frame["industry"].to_numpy(),
                "score": score,
                # rank(method="max", pct=True) = share of scores <= this one, ties counted fully = cume_dist
                "percentile": by_industry.rank(method="max", pct=True).to_numpy() * 100,
                "normal_percentile": norm.cdf(z) * 100,
                "window_mean": mean,
                "window_stddev": std,
            })
        )
    return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True)
class Throughput:
    batches: int
    clean_rows: int
    rows: int  # (iteration, id) rows produced
    duckdb_threads: str
    sql_seconds: float  # the compiled select, executed directly into a table
    sql_foreign: float | None
    dbt: DbtRun  # dbt run --select percentile_history --full-refresh
    pandas_seconds: float
    pandas_foreign: float | None
    pandas_rows: int
    per_iteration_counts_equal: bool
    sample_iterations: list[int]
    sample_rows: int
    sample_unmatched: int
    max_diff_percentile: float
    max_diff_normal: float

    @property
    def dbt_model_seconds(self) -> float:
        return self.dbt.nodes["model.ml_platform.percentile_history"]

    @property
    def agree(self) -> bool:
        return (
            self.rows == self.pandas_rows and self.per_iteration_counts_equal and self.sample_unmatched == 0
            and self.max_diff_percentile < 1e-9 and self.max_diff_normal < 1e-9
        )


def max_abs_diff(left: pd.Series, right: pd.Series) -> float:
    """Largest |left - right|; both null counts as equal, one null as infinitely different."""
    left, right = left.to_numpy(dtype=float), right.to_numpy(dtype=float)
    both_null = np.isnan(left) & np.isnan(right)
    diff = np.abs(left - right)
    diff[both_null] = 0.0
    diff[np.isnan(diff)] = np.inf
    return float(diff.max()) if len(diff) else 0.0


def run_throughput(snapshot: Path, folder: Path, window: int) -> Throughput:
    log(f"throughput: percentile_history over all batches of {snapshot}")
    dbt = Dbt(snapshot, folder / "target")

    # the full-refresh compile drops the model's incremental filter: the SQL recomputes every iteration
    dbt("compile", "compile", "--select", "percentile_history", "--full-refresh")
    sql = (dbt.target_path / COMPILED_PERCENTILE_HISTORY).read_text().strip().rstrip(";")
    if '."percentile_history"' in sql:
        raise RuntimeError("the compiled percentile_history still reads itself: not the full-refresh form")

    with connect(snapshot) as con:
        threads = con.execute("select current_setting('threads')").fetchone()[0]
        batches, clean_rows = con.execute("select count(distinct batch), count(*) from int_scores_clean").fetchone()
        with Stopwatch() as sql_watch:
            con.execute(f"create or replace table bench_percentile_history as {sql}")
        sql_seconds = sql_watch.seconds
        rows = con.execute("select count(*) from bench_percentile_history").fetchone()[0]
        log(f"  SQL (compiled select, DuckDB {threads} threads): {rows:,} rows in {sql_seconds:.2f} s "
            f"= {rows / sql_seconds:,.0f} rows/s; other processes {share(sql_watch.foreign)} of the machine")
        # read once, untimed: the pandas side starts from the same clean rows already in memory
        clean = con.execute(
            "select id, batch, industry, score from int_scores_clean order by batch, record_index"
        ).df()

    dbt_run = dbt("percentile_history_full_refresh", "run", "--select", "percentile_history", "--full-refresh")
    model_seconds = dbt_run.nodes["model.ml_platform.percentile_history"]
    log(f"  dbt run --full-refresh percentile_history: model {model_seconds:.2f} s "
        f"= {rows / model_seconds:,.0f} rows/s (wall {dbt_run.wall:.2f} s); "
        f"other processes {share(dbt_run.foreign)} of the machine")

    with Stopwatch() as pandas_watch:
        frame = pandas_percentiles(clean, window)
    pandas_seconds = pandas_watch.seconds
    log(f"  pandas: {len(frame):,} rows in {pandas_seconds:.2f} s = {len(frame) / pandas_seconds:,.0f} rows/s; "
        f"other processes {share(pandas_watch.foreign)} of the machine")

    # check: same rows per iteration everywhere, same values on a sample of iterations (first, last, between)
    iterations = frame["iteration"].to_numpy()
    sample = sorted({int(i) for i in np.linspace(iterations.min(), iterations.max(), 5)})
    with connect(snapshot, read_only=True) as con:
        sql_counts = con.execute(
            "select iteration, count(*) as n from bench_percentile_history group by iteration"
        ).df().set_index("iteration")["n"]
        sql_sample = con.execute(
            "select iteration, id, percentile, normal_percentile from bench_percentile_history "
            "where iteration in (select unnest(?))",
            [sample],
        ).df()
    pandas_counts = frame.groupby("iteration").size()
    counts_equal = sql_counts.sort_index().astype(int).equals(pandas_counts.sort_index().astype(int))
    merged = sql_sample.merge(
        frame[frame["iteration"].isin(sample)], on=["iteration", "id"], how="outer",
        suffixes=("_sql", "_pandas"), indicator=True,
    )
    matched = merged[merged["_merge"] == "both"]
    result = Throughput(
        batches=batches, clean_rows=clean_rows, rows=rows, duckdb_threads=str(threads), sql_seconds=sql_seconds,
        sql_foreign=sql_watch.foreign, dbt=dbt_run, pandas_seconds=pandas_seconds,
        pandas_foreign=pandas_watch.foreign, pandas_rows=len(frame), per_iteration_counts_equal=counts_equal,
        sample_iterations=sample, sample_rows=len(matched), sample_unmatched=int((merged["_merge"] != "both").sum()),
        max_diff_percentile=max_abs_diff(matched["percentile_sql"], matched["percentile_pandas"]),
        max_diff_normal=max_abs_diff(matched["normal_percentile_sql"], matched["normal_percentile_pandas"]),
    )
    log(f"  check: rows SQL {rows:,} vs pandas {len(frame):,}; rows per iteration equal: {counts_equal}; "
        f"sample iterations {sample}: {result.sample_rows:,} rows matched, {result.sample_unmatched} unmatched, "
        f"max |diff| percentile {result.max_diff_percentile:.1e}, normal_percentile {result.max_diff_normal:.1e} "
        f"-> {'AGREE' if result.agree else 'DISAGREE'}")
    return result


# --- report ------------------------------------------------------------------------------------------------


def ratio(large: float, small: float) -> str:
    return f"{large / small:.2f}x" if small > 0 else "n/a"


def summary(info: dict[str, str], args: argparse.Namespace, small: Scenario, large: Scenario, tp: Throughput) -> str:
    lines = [
        "=" * 100,
        "SUMMARY  score pipeline benchmark",
        f"command: python -m benchmarks.scores --small {args.small} --large {args.large} --rows {args.rows}",
        "machine: " + "; ".join(f"{key} {value}" for key, value in info.items()),
        "",
        f"(a) one new batch of {args.rows:,} rows".ljust(44)
        + f"{f'small ({small.history})':>16}{f'large ({large.history})':>16}{'large/small':>14}",
    ]

    def row(label: str, s: float, l: float, unit: str = "s") -> str:
        return f"  {label:<42}{s:>14.2f} {unit:<2}{l:>14.2f} {unit:<2}{ratio(l, s):>13}"

    lines += [
        row("dbt build, wall", small.build.wall, large.build.wall),
        row("dbt build, dbt elapsed", small.build.elapsed, large.build.elapsed),
        row("dbt build, sum of nodes", small.build.node_total, large.build.node_total),
    ]
    for kind in sorted(large.build.total_by_kind()):
        lines.append(row(f"  of which {kind}s", small.build.total_by_kind().get(kind, 0.0),
                         large.build.total_by_kind()[kind]))
    lines += [
        row("dbt run (models only), wall", small.run.wall, large.run.wall),
        row("dbt run, sum of models", small.run.node_total, large.run.node_total),
        row("dbt test on every row (full audit), wall", small.audit.wall, large.audit.wall),
        row("landing the history, all files", small.land_seconds, large.land_seconds),
        row("landing the new batch", small.land_new_seconds, large.land_new_seconds),
        row("landing, per file (last 10 of history)", small.land_last_ms, large.land_last_ms, unit="ms"),
        row("full build of the history (untimed)", small.full_build.wall, large.full_build.wall),
        "",
        "  slowest nodes of the large scenario's one-batch dbt build",
    ]
    for unique_id, s, l in slowest_nodes(small.build, large.build):
        lines.append(row("  " + short_name(unique_id)[:40], s, l))
    lines += [
        "  rows in the large warehouse after: " + ", ".join(f"{t} {n:,}" for t, n in large.table_rows.items()),
        "",
        f"(b) percentile_history, full recomputation over {tp.batches} batches ({tp.clean_rows:,} clean rows "
        f"-> {tp.rows:,} (iteration, id) rows)",
        f"  {f'SQL, compiled select in DuckDB ({tp.duckdb_threads} threads)':<42}{tp.sql_seconds:>14.2f} s"
        f"{tp.rows / tp.sql_seconds:>16,.0f} rows/s",
        f"  {'dbt run --full-refresh, model time':<42}{tp.dbt_model_seconds:>14.2f} s"
        f"{tp.rows / tp.dbt_model_seconds:>16,.0f} rows/s   (wall {tp.dbt.wall:.2f} s)",
        f"  {'pandas (one thread)':<42}{tp.pandas_seconds:>14.2f} s"
        f"{tp.pandas_rows / tp.pandas_seconds:>16,.0f} rows/s",
        f"  throughput SQL / pandas: {tp.pandas_seconds / tp.sql_seconds:.2f}x (compiled select), "
        f"{tp.pandas_seconds / tp.dbt_model_seconds:.2f}x (dbt model)",
        f"  agreement: {'AGREE' if tp.agree else 'DISAGREE'} (rows {tp.rows:,} vs {tp.pandas_rows:,}, "
        f"per iteration equal {tp.per_iteration_counts_equal}, max |diff| on {tp.sample_rows:,} sampled rows: "
        f"percentile {tp.max_diff_percentile:.1e}, normal {tp.max_diff_normal:.1e})",
        "",
    ]
    contention = {
        "build small": small.build.foreign, "build large": large.build.foreign,
        "run small": small.run.foreign, "run large": large.run.foreign,
        "SQL": tp.sql_foreign, "dbt full refresh": tp.dbt.foreign, "pandas": tp.pandas_foreign,
    }
    lines.append(
        "share of the machine used by other processes during the timed steps: "
        + ", ".join(f"{step} {share(foreign)}" for step, foreign in contention.items())
    )
    if any(foreign is not None and foreign > CONTENTION_WARNING for foreign in contention.values()):
        lines.append(
            f"WARNING: other processes used more than {CONTENTION_WARNING:.0%} of the machine during a timed step; "
            "those figures are inflated, rerun on a quiet machine"
        )
    lines.append("=" * 100)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scores", description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10, help="batches of history in the small scenario")
    parser.add_argument("--large", type=int, default=500, help="batches of history in the large scenario")
    parser.add_argument("--rows", type=int, default=10_000, help="records per synthetic batch")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic batches")
    parser.add_argument("--workdir", type=Path, help="scratch folder, kept afterwards (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary scratch folder")
    parser.add_argument(
        "--project-dir", type=Path, default=PROJECT_ROOT, help="the dbt project to measure (default: this checkout)"
    )
    args = parser.parse_args(argv)
    Dbt.project_dir = args.project_dir.resolve()
    window = window_batches(Dbt.project_dir)
    if not window <= args.small < args.large:
        parser.error(f"need {window} (the percentile window) <= --small < --large")

    if args.workdir:
        workdir, keep = args.workdir.resolve(), True
        workdir.mkdir(parents=True, exist_ok=True)
        for child in ("batches", "small", "large", "throughput"):  # only what a previous run left here
            shutil.rmtree(workdir / child, ignore_errors=True)
    else:
        workdir, keep = Path(tempfile.mkdtemp(prefix="bench_scores_")), args.keep

    info = machine()
    log("machine: " + "; ".join(f"{key} {value}" for key, value in info.items()))
    log(f"workdir {workdir}; {args.rows:,} rows per batch; history {args.small} vs {args.large} batches; "
        f"dbt project {Dbt.project_dir}, selection '{SCORE_PIPELINE}'")
    try:
        # history + the timed build's batch + the timed run's batch
        start = time.perf_counter()
        batches = write_score_batches(workdir / "batches", args.large + 2, args.rows, seed=args.seed)
        log(f"generated {len(batches)} batch files in {time.perf_counter() - start:.1f} s")

        small = run_scenario("small", args.small, batches, workdir / "small")
        large = run_scenario(
            "large", args.large, batches, workdir / "large", snapshot=workdir / "throughput" / "warehouse.duckdb"
        )
        log(f"one new batch, dbt build: small {small.build.wall:.2f} s, large {large.build.wall:.2f} s, "
            f"ratio {ratio(large.build.wall, small.build.wall)}; dbt run: small {small.run.wall:.2f} s, "
            f"large {large.run.wall:.2f} s, ratio {ratio(large.run.wall, small.run.wall)}")
        log("slowest nodes of the large one-batch build (small -> large):")
        for unique_id, s, l in slowest_nodes(small.build, large.build):
            log(f"  {short_name(unique_id)}: {s:.2f} s -> {l:.2f} s")

        tp = run_throughput(workdir / "throughput" / "warehouse.duckdb", workdir / "throughput", window)
        print(summary(info, args, small, large, tp), flush=True)
        return 0 if tp.agree else 1
    finally:
        if keep:
            log(f"scratch files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
