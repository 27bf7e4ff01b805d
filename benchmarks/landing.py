"""`python -m benchmarks.landing [--history 10 1000 5000] [--rows 1000] [--runs 3]`: what landing one new score
batch costs as history grows, the way a user runs it (`python -m landing.land` as a whole process, DuckDB).

For each history size N: N synthetic batch files landed into a fresh warehouse (untimed), then batch N dropped into
the folder and `python -m landing.land` timed, best of --runs (each run lands into a copy of the N-batch warehouse).
A landed file left as it was is known from the ledger by its size and modification time, so the figure should not
grow with N; rows per batch only change what the one new batch costs, so the default keeps generation short.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.machine import describe_machine
from benchmarks.scores.data import generate, land
from core.settings import PROJECT_ROOT
from warehouse import DuckDBWarehouse


def time_landing(folder: Path, history: DuckDBWarehouse, runs: int) -> float:
    """Best wall time of `python -m landing.land` over `folder` into fresh copies of `history`."""
    best = float("inf")
    for run in range(runs):
        warehouse = history.path.with_name(f"run{run}.duckdb")
        shutil.copyfile(history.path, warehouse)
        env = {**os.environ, "DATA_DIR": str(folder), "DUCKDB_PATH": str(warehouse), "DBT_TARGET": "duckdb"}
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "landing.land"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
        )
        seconds = time.perf_counter() - started
        if result.returncode != 0 or "1 newly landed" not in result.stdout:
            raise RuntimeError(f"landing failed or landed not exactly one batch:\n{result.stdout}\n{result.stderr}")
        best = min(best, seconds)
        warehouse.unlink()
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, nargs="+", default=[10, 1000, 5000])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"machine: {describe_machine()}", flush=True)
    figures = {}
    with tempfile.TemporaryDirectory(prefix="bench_landing_") as scratch:
        files = generate(Path(scratch) / "all", max(args.history) + 1, args.rows, seed=0)
        for size in sorted(args.history):
            folder = Path(scratch) / f"data_{size}" / "score_batches"
            folder.mkdir(parents=True)
            for path in files[:size]:
                os.link(path, folder / path.name)  # the same bytes and modification time as landed
            history = DuckDBWarehouse(Path(scratch) / f"history_{size}.duckdb")
            land(history, sorted(folder.iterdir(), key=lambda p: int(p.stem.split("_")[1])))
            os.link(files[size], folder / files[size].name)  # the new batch
            figures[size] = time_landing(folder.parent, history, args.runs)
            print(
                f"history {size:>5} batches: python -m landing.land with one new batch {figures[size]:.2f} s "
                f"(best of {args.runs})",
                flush=True,
            )
    smallest = min(figures)
    for size, seconds in sorted(figures.items()):
        print(f"| {size:,} | {seconds:.2f} s | {seconds / figures[smallest]:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
