"""The benchmark's printed summary: the machine, (a) small vs large history side by side, (b) rows/s, contention."""

from __future__ import annotations

import argparse
import platform
from importlib import metadata

import duckdb
import pandas as pd

from benchmarks.machine import cpu_model, memory, share, usable_cpus
from benchmarks.scores.dbt_timing import short_name, slowest_nodes
from benchmarks.scores.incremental import LANDING_SAMPLE, Scenario
from benchmarks.scores.throughput import BAR, PANDAS_RUNS, Throughput

# above this share of the machine busy with other work, the summary flags its figures as contended
CONTENTION_WARNING = 0.10


def machine() -> dict[str, str]:
    return {
        "nproc": str(usable_cpus()),
        "cpu": cpu_model(),
        "memory": memory(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "dbt-core": metadata.version("dbt-core"),
        "dbt-duckdb": metadata.version("dbt-duckdb"),
        "pandas": pd.__version__,
    }


def ratio(large: float, small: float) -> str:
    return f"{large / small:.2f}x" if small > 0 else "n/a"


def summary(
    info: dict[str, str],
    args: argparse.Namespace,
    small: Scenario,
    large: Scenario,
    tp: Throughput | None,
) -> str:
    """The whole summary; without `tp` (the Postgres run measures (a) only), (a) alone."""
    target = getattr(args, "target", "duckdb")
    lines = [
        "=" * 100,
        f"SUMMARY  score pipeline benchmark on {target}",
        f"command: python -m benchmarks.scores --small {args.small} --large {args.large} --rows {args.rows}"
        + (f" --recompute {args.recompute}" if tp is not None else "")
        + (f" --target {target}" if target != "duckdb" else ""),
        "machine: " + "; ".join(f"{key} {value}" for key, value in info.items()),
        "",
        f"(a) one new batch of {args.rows:,} rows ({target})".ljust(44)
        + f"{f'small ({small.history})':>16}{f'large ({large.history})':>16}{'large/small':>14}",
    ]

    def row(label: str, small_value: float, large_value: float, unit: str = "s") -> str:
        return (
            f"  {label:<42}{small_value:>14.2f} {unit:<2}{large_value:>14.2f} {unit:<2}"
            f"{ratio(large_value, small_value):>13}"
        )

    lines += [
        row("dbt build, wall", small.build.wall, large.build.wall),
        row("dbt build, dbt elapsed", small.build.elapsed, large.build.elapsed),
        row("dbt build, sum of nodes", small.build.node_total, large.build.node_total),
    ]
    for kind in sorted(large.build.total_by_kind()):
        lines.append(
            row(f"  of which {kind}s", small.build.total_by_kind().get(kind, 0.0), large.build.total_by_kind()[kind])
        )
    lines += [
        row("dbt run (models only), wall", small.run.wall, large.run.wall),
        row("dbt run, sum of models", small.run.node_total, large.run.node_total),
        row("dbt test on every row (full audit), wall", small.audit.wall, large.audit.wall),
        row("landing the history, all files", small.land_seconds, large.land_seconds),
        row("landing the new batch", small.land_new_seconds, large.land_new_seconds),
        row(f"landing, per file (last {LANDING_SAMPLE} of history)", small.land_last_ms, large.land_last_ms, unit="ms"),
        row("full build of the history (untimed)", small.full_build.wall, large.full_build.wall),
        "",
        "  slowest nodes of the large scenario's one-batch dbt build",
    ]
    for unique_id, small_seconds, large_seconds in slowest_nodes(small.build, large.build):
        lines.append(row("  " + short_name(unique_id)[:40], small_seconds, large_seconds))
    lines += [
        "  rows in the large warehouse after: " + ", ".join(f"{t} {n:,}" for t, n in large.table_rows.items()),
        "",
    ]
    contention = {
        "build small": small.build.foreign,
        "build large": large.build.foreign,
        "run small": small.run.foreign,
        "run large": large.run.foreign,
    }
    if tp is not None:
        lines += throughput_lines(tp)
        contention.update({"SQL": tp.sql_foreign, "dbt full refresh": tp.dbt.foreign, "pandas": tp.pandas_foreign})
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


def throughput_lines(tp: Throughput) -> list[str]:
    check = tp.check
    return [
        f"(b) percentile_history, full recomputation over {tp.batches} batches ({tp.clean_rows:,} clean rows "
        f"-> {tp.rows:,} (iteration, id) rows)",
        f"  {f'SQL, compiled selects in DuckDB ({tp.duckdb_threads} threads)':<42}{tp.sql_seconds:>14.2f} s"
        f"{tp.rows / tp.sql_seconds:>16,.0f} rows/s",
        f"  {'dbt run --full-refresh, model time':<42}{tp.dbt_model_seconds:>14.2f} s"
        f"{tp.rows / tp.dbt_model_seconds:>16,.0f} rows/s   (wall {tp.dbt.wall:.2f} s)",
        f"  {'  of which percentile_history alone':<42}{tp.dbt_node_seconds:>14.2f} s"
        f"{tp.rows / tp.dbt_node_seconds:>16,.0f} rows/s",
        f"  {f'pandas loop (one thread, fastest of {PANDAS_RUNS})':<42}{tp.pandas_seconds:>14.2f} s"
        f"{tp.pandas_rows / tp.pandas_seconds:>16,.0f} rows/s",
        f"  throughput SQL / pandas: {tp.pandas_seconds / tp.sql_seconds:.2f}x (compiled selects), "
        f"{tp.pandas_seconds / tp.dbt_model_seconds:.2f}x (dbt, the three models), "
        f"{tp.pandas_seconds / tp.dbt_node_seconds:.2f}x (dbt, percentile_history's node: the bar is {BAR}x)",
        f"  the bar leaves the node {tp.pandas_seconds / BAR:.2f} s; copying the finished mart into a new table "
        f"(nothing computed) took {tp.write_floor_seconds:.2f} s",
        f"  agreement: {'AGREE' if tp.agree else 'DISAGREE'} (rows {tp.rows:,} vs {tp.pandas_rows:,}, "
        f"per iteration equal {check.per_iteration_counts_equal}, max |diff| on {check.sample_rows:,} sampled rows: "
        f"percentile {check.max_diff_percentile:.1e}, normal {check.max_diff_normal:.1e})",
        "",
    ]
