"""The benchmark's data: synthetic score batches written to files, landed through the project's own loader.

A warehouse is what `Warehouse.open` opens: a DuckDB file's Path, or a Postgres Connection
(then the loader runs through `connect_postgres`, as `DBT_TARGET=postgres make land` runs it)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmarks.machine import count_as_own
from benchmarks.scores import log
from core.settings import Settings
from landing.score_batches import land_score_batch
from synthetic.score_batches import write_score_batches
from warehouse.local_postgres import LocalPostgres

# what the summary reports of a warehouse after a scenario: raw, validated and every score mart
COUNTED_TABLES = (
    "raw.score_batches",
    "int_score_records_validated",
    "percentile_history",
    "scores",
    "industry_distribution_history",
    "score_rejects",
)


def generate(folder: Path, batches: int, rows: int, seed: int, first: int = 0) -> list[Path]:
    """`batches` files of `rows` records, batch `first` first (same seed, same bytes)."""
    start = time.perf_counter()
    paths = write_score_batches(folder, batches, rows, seed=seed, first=first)
    log(f"generated {len(paths)} batch files in {time.perf_counter() - start:.1f} s")
    return paths


def land(warehouse, paths: list[Path], progress_every: int = 0) -> list[float]:
    """Land the files in order through the project's own loader; return each file's seconds."""
    seconds = []
    with warehouse.open() as con:
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


def table_rows(warehouse) -> dict[str, int]:
    with warehouse.open(read_only=True) as con:
        return {table: con.execute(f"select count(*) from {table}").fetchone()[0] for table in COUNTED_TABLES}


def postgres_server(state_dir: Path):
    """(the server to run on, how to let it go): PG* when PGHOST is set (Settings, read here at the entry point
    only), else a throwaway local server under `state_dir`, stopped afterwards."""
    external = Settings.from_env().postgres_server
    if external is not None:
        return external, lambda: None
    local = LocalPostgres(state_dir)
    try:
        started = local.start()
    except BaseException:
        local.stop()
        raise
    count_as_own(local.pid())  # its backends run our SQL: not "other processes"
    log(f"started a throwaway Postgres under {state_dir} ({started})")
    return started, local.stop
