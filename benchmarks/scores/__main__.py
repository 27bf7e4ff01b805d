"""The command line of the score benchmark (see the package docstring): `python -m benchmarks.scores --help`."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import benchmarks.scores
from benchmarks.scores import log
from benchmarks.scores.data import generate
from benchmarks.scores.dbt_timing import SCORE_PIPELINE, short_name, slowest_nodes
from benchmarks.scores.incremental import run_scenario
from benchmarks.scores.pandas_baseline import window_batches
from benchmarks.scores.report import machine, ratio, summary
from benchmarks.scores.throughput import run_throughput
from ingestion.settings import PROJECT_ROOT

# what a previous run with the same --workdir left there (and nothing else of the folder's)
SCRATCH_FOLDERS = ("batches", "small", "large", "throughput")


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, int]:
    """The options, checked against the project's percentile window (returned with them)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scores", description=benchmarks.scores.__doc__.split("\n\n")[0]
    )
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
    args.project_dir = args.project_dir.resolve()
    window = window_batches(args.project_dir)
    if not window <= args.small < args.large:
        parser.error(f"need {window} (the percentile window) <= --small < --large")
    return args, window


def main(argv: list[str] | None = None) -> int:
    args, window = parse_args(argv)
    if args.workdir:
        workdir, keep = args.workdir.resolve(), True
        workdir.mkdir(parents=True, exist_ok=True)
        for child in SCRATCH_FOLDERS:
            shutil.rmtree(workdir / child, ignore_errors=True)
    else:
        workdir, keep = Path(tempfile.mkdtemp(prefix="bench_scores_")), args.keep

    info = machine()
    log("machine: " + "; ".join(f"{key} {value}" for key, value in info.items()))
    log(f"workdir {workdir}; {args.rows:,} rows per batch; history {args.small} vs {args.large} batches; "
        f"dbt project {args.project_dir}, selection '{SCORE_PIPELINE}'")
    try:
        # history + the timed build's batch + the timed run's batch
        batches = generate(workdir / "batches", args.large + 2, args.rows, args.seed)
        small = run_scenario("small", args.small, batches, workdir / "small", args.project_dir)
        snapshot = workdir / "throughput" / "warehouse.duckdb"
        large = run_scenario("large", args.large, batches, workdir / "large", args.project_dir, snapshot=snapshot)
        log(f"one new batch, dbt build: small {small.build.wall:.2f} s, large {large.build.wall:.2f} s, "
            f"ratio {ratio(large.build.wall, small.build.wall)}; dbt run: small {small.run.wall:.2f} s, "
            f"large {large.run.wall:.2f} s, ratio {ratio(large.run.wall, small.run.wall)}")
        log("slowest nodes of the large one-batch build (small -> large):")
        for unique_id, s, l in slowest_nodes(small.build, large.build):
            log(f"  {short_name(unique_id)}: {s:.2f} s -> {l:.2f} s")

        tp = run_throughput(snapshot, workdir / "throughput", window, args.project_dir)
        print(summary(info, args, small, large, tp), flush=True)
        return 0 if tp.agree else 1
    finally:
        if keep:
            log(f"scratch files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
