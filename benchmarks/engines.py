"""DuckDB against Spark at scale: `python -m benchmarks.engines scores|embedding` (`make bench-engines`).

`scores [--sizes 100 1000 5000] [--rows 10000] [--targets duckdb spark]`: per target one warehouse grows through
the sizes. At each size N the synthetic batches 0..N are landed (through the project's loaders) and each target in
turn: the score pipeline's seed and models rebuilt from batches 0..N-1 (`dbt build --full-refresh`, tests left out:
every iteration's percentiles), in rows/s of raw input; then batch N arrives and the same build without
--full-refresh times the incremental run (seconds per new batch). A target's two runs follow each other, so
`--targets spark` alone gives the same figures as both together. Peak memory is the largest summed RSS of the dbt
process tree (the Spark launcher and its JVM; dbt-duckdb and its database) during a run. The generated batches are
shared between the targets; Spark's landing ledger is a copy of DuckDB's raw tables (the same loaders' output),
mirrored to Parquet as a landing would, so Spark's landing is not timed here; DuckDB's batch N waits in a side
table until it arrives.

`embedding [--texts 2000]`: texts of the real document 12345 (the first --texts) encoded by EMBEDDING_BACKEND in
process (encode_texts: every core) and on a local Spark session's executors with `local[1]` and `local[2]`
(encode_on_executors: one thread per task), each in a fresh process after a warm-up call (model loading not
timed), in texts/s.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from benchmarks.machine import describe_machine, share
from benchmarks.scores import log
from benchmarks.scores.data import generate, land
from benchmarks.scores.dbt_timing import SCORE_PIPELINE, Dbt
from core.settings import PROJECT_ROOT
from warehouse import DuckDBWarehouse
from warehouse.duckdb_file import connect
from warehouse.spark import SparkWarehouse, mirror_raw

# the pipeline's seed and models, without its tests: what is timed is the work of computing the marts
SCORE_MODELS = [*SCORE_PIPELINE.split(), "--resource-type", "model", "--resource-type", "seed"]


class PeakMemory:
    """The largest summed RSS of this process's descendants (the dbt subprocess tree) while the block runs."""

    def __init__(self, every: float = 0.25):
        self.every, self.peak, self._stop = every, 0, threading.Event()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.every)

    def __enter__(self) -> "PeakMemory":
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def timed_run(dbt: Dbt, label: str, *args: str) -> dict:
    with PeakMemory() as memory:
        run = dbt(label, *args)
    return {"wall": run.wall, "elapsed": run.elapsed, "peak_gib": memory.peak / 1024**3, "foreign": run.foreign}


def bench_scores(sizes: list[int], rows: int, targets: list[str], workdir: Path) -> list[dict]:
    paths = generate(workdir / "batches", max(sizes) + 1, rows, seed=0)
    duckdb_warehouse = DuckDBWarehouse(workdir / "duckdb" / "warehouse.duckdb")
    duckdb_warehouse.path.parent.mkdir(parents=True, exist_ok=True)
    spark = SparkWarehouse(workdir / "spark")
    warehouses = {"duckdb": duckdb_warehouse, "spark": spark}
    results, landed = [], 0
    for size in sizes:
        # every target's runs at this size follow each other (full rebuild, then one new batch), so one target can
        # be measured in an invocation of its own (--targets spark) with the same figures
        log(f"landing batches {landed}..{size} into DuckDB")
        land(duckdb_warehouse, paths[landed : size + 1], progress_every=500)  # the N batches and the new one
        landed = size + 1
        for target in targets:
            dbt = Dbt(warehouses[target], workdir / target / "target", PROJECT_ROOT)
            if target == "spark":  # the same raw tables, mirrored for Spark as a landing would
                _ledger_from(duckdb_warehouse.path, spark, batches=size)
            else:
                _set_aside_newest(duckdb_warehouse.path, hide=True)
            log(f"{target}: full rebuild over {size} batches")
            full = timed_run(dbt, f"{target}-{size}-full", "build", "--full-refresh", "--select", *SCORE_MODELS)
            log(
                f"{target}: {size} batches in {full['wall']:.1f} s wall ({size * rows / full['wall']:,.0f} rows/s), "
                f"peak {full['peak_gib']:.2f} GiB, other processes {share(full['foreign'])} of the machine"
            )
            if target == "spark":
                _ledger_from(duckdb_warehouse.path, spark, batches=size + 1)
            else:
                _set_aside_newest(duckdb_warehouse.path, hide=False)
            new = timed_run(dbt, f"{target}-{size}-new", "build", "--select", *SCORE_MODELS)
            log(
                f"{target}: one new batch after {size}: {new['wall']:.1f} s wall, peak {new['peak_gib']:.2f} GiB, "
                f"other processes {share(new['foreign'])} of the machine"
            )
            results.append({"target": target, "batches": size, "rows": size * rows, "full": full, "new": new})
    return results


def _set_aside_newest(duckdb_path: Path, hide: bool) -> None:
    """Move the newest landed batch out of raw.score_batches (and its landing record) into a side table, or back:
    DuckDB rebuilds over N batches, then sees batch N arrive, as Spark does from its ledger."""
    with connect(duckdb_path) as con:
        con.execute("begin")
        if hide:
            con.execute(
                "create or replace table main.bench_newest as select * from raw.score_batches "
                "where batch = (select max(batch) from raw.score_batches)"
            )
            con.execute(
                "create or replace table main.bench_newest_landing as select * from raw.landed_files "
                "where source = 'score_batches' and landing_key in (select distinct batch::varchar "
                "from main.bench_newest)"
            )
            con.execute("delete from raw.score_batches where batch in (select batch from main.bench_newest)")
            con.execute(
                "delete from raw.landed_files where source = 'score_batches' and landing_key in "
                "(select landing_key from main.bench_newest_landing)"
            )
        else:
            con.execute("insert into raw.score_batches select * from main.bench_newest")
            con.execute("insert into raw.landed_files select * from main.bench_newest_landing")
            con.execute("drop table main.bench_newest")
            con.execute("drop table main.bench_newest_landing")
        con.execute("commit")


def _ledger_from(duckdb_path: Path, spark: SparkWarehouse, batches: int) -> None:
    """Spark's landing ledger as a copy of DuckDB's raw tables holding the first `batches` score batches, mirrored
    to Parquet (a batch mirrored before and absent now is removed: the ledger is this copy, nothing more)."""
    spark.directory.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with connect(spark.ledger) as con:
        con.execute(f"attach '{duckdb_path}' as landed (read_only)")
        con.execute("create schema if not exists raw")
        kept = f"(select distinct batch from landed.raw.score_batches order by batch limit {batches})"
        for (table,) in con.execute(
            "select table_name from information_schema.tables where table_catalog = 'landed' and table_schema = 'raw'"
        ).fetchall():
            where = {
                "score_batches": f"where batch in {kept}",
                "landed_files": f"where source != 'score_batches' or landing_key in "
                f"(select batch::varchar from {kept})",
            }.get(table, "")
            con.execute(f"create or replace table raw.{table} as select * from landed.raw.{table} {where}")
        con.execute("detach landed")
        written = mirror_raw(con, spark.raw_dir)
    log(
        f"spark: ledger of {batches} batches copied and {len(written)} raw files mirrored in "
        f"{time.perf_counter() - started:.1f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engines", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="job", required=True)
    scores = sub.add_parser("scores")
    scores.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    scores.add_argument("--rows", type=int, default=10_000)
    scores.add_argument("--targets", nargs="+", choices=("duckdb", "spark"), default=["duckdb", "spark"])
    scores.add_argument("--workdir", type=Path)
    embedding = sub.add_parser("embedding")
    embedding.add_argument("--texts", type=int, default=2000)
    args = parser.parse_args(argv)
    log(describe_machine())
    if args.job == "embedding":
        return bench_embedding(args.texts)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_engines_"))
    try:
        results = bench_scores(sorted(args.sizes), args.rows, args.targets, workdir)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print(
        "\n| target | batches | rows | full rebuild (s) | rows/s | peak memory (GiB) | one new batch (s) | peak (GiB) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['target']} | {r['batches']:,} | {r['rows']:,} | {r['full']['wall']:.1f} | "
            f"{r['rows'] / r['full']['wall']:,.0f} | {r['full']['peak_gib']:.2f} | {r['new']['wall']:.1f} | "
            f"{r['new']['peak_gib']:.2f} |"
        )
    return 0


EMBED_SCRIPT = """
import sys, time
from pathlib import Path
from embeddings.encoders import encode_texts, load_encoder
from core.settings import Settings
from embeddings.model_source import settings_model
import duckdb

spec = settings_model(Settings.from_env())
texts = [row[0] for row in duckdb.sql(
    "select text from read_json_auto(?) limit ?", params=[sys.argv[2], int(sys.argv[3])]).fetchall()]
mode = sys.argv[1]
if mode == "in-process":
    load_encoder(spec); encode_texts(spec, texts[:32], progress=False)
    started = time.perf_counter(); encode_texts(spec, texts, progress=False)
else:
    from warehouse.spark import SparkWarehouse, start_session
    from pipeline.spark_dbt import encode_on_executors
    spark = start_session(SparkWarehouse(Path(sys.argv[4]), master=mode))
    encode_on_executors(spark, spec, texts[:64])  # the executors' Python workers load the model once
    started = time.perf_counter(); encode_on_executors(spark, spec, texts)
print("RESULT", len(texts), time.perf_counter() - started)
"""


def bench_embedding(count: int) -> int:
    texts_file = PROJECT_ROOT.parent / "shared" / "data" / "documents" / "texts_12345.json"
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for mode in ("in-process", "local[1]", "local[2]"):
            result = subprocess.run(
                [sys.executable, "-c", EMBED_SCRIPT, mode, str(texts_file), str(count), str(Path(scratch) / mode)],
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
                env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
            )
            line = next((line for line in result.stdout.splitlines() if line.startswith("RESULT")), None)
            if result.returncode or line is None:
                print(result.stdout[-2000:], result.stderr[-2000:], file=sys.stderr)
                return 1
            _, n, seconds = line.split()
            rows.append((mode, int(n), float(seconds)))
            log(f"{mode}: {int(n)} texts in {float(seconds):.1f} s ({int(n) / float(seconds):.1f} texts/s)")
    print("\n| where | texts | seconds | texts/s |\n|---|---|---|---|")
    for mode, n, seconds in rows:
        print(f"| {mode} | {n} | {seconds:.1f} | {n / seconds:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
