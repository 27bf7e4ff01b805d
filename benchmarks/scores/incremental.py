"""(a) One new batch against history: the same batch's `dbt build` and `dbt run` over a small and a large history."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.scores import log
from benchmarks.scores.data import land, table_rows
from benchmarks.scores.dbt_timing import SCORE_PIPELINE, Dbt, DbtRun, describe
from warehouse import DuckDBWarehouse, Warehouse

LANDING_SAMPLE = 10  # files at each end of a history whose landing times are compared


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


def run_scenario(
    name: str,
    history: int,
    batches: list[Path],
    folder: Path,
    project_dir: Path,
    snapshot: Path | None = None,
    warehouse=None,
) -> Scenario:
    """Land `history` batches, build them (untimed), then time one new batch's `dbt build` and a further
    batch's `dbt run`. With `snapshot`, the warehouse is copied there right after the history's build.

    `warehouse`: an empty warehouse to run on (a Postgres database, say); default a DuckDB file in `folder`."""
    log(f"scenario {name}: {history} batches of history" + (f" on {warehouse}" if warehouse is not None else ""))
    folder.mkdir(parents=True)
    if warehouse is None:
        warehouse = DuckDBWarehouse(folder / "warehouse.duckdb")
    elif snapshot is not None and warehouse.engine != "duckdb":
        raise ValueError("snapshot copies a DuckDB file: not with a Postgres warehouse")
    dbt = Dbt(warehouse, folder / "target", project_dir)

    per_file, full_build = build_history(dbt, warehouse, batches[:history])
    land_first_ms, land_last_ms = landing_ms(per_file)
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
        name,
        history,
        sum(per_file),
        land_first_ms,
        land_last_ms,
        full_build,
        land_new_seconds,
        build,
        run,
        audit,
        rows,
    )


def build_history(dbt: Dbt, warehouse: Warehouse, batches: list[Path]) -> tuple[list[float], DbtRun]:
    """Land `batches` into `warehouse` and build the score pipeline over them once (untimed: reported only);
    return the seconds each file took to land, and the build."""
    per_file = land(warehouse, batches, progress_every=100 if len(batches) >= 200 else 0)
    sample = min(LANDING_SAMPLE, len(batches))
    first_ms, last_ms = landing_ms(per_file)
    log(
        f"  landed {len(batches)} batches in {sum(per_file):.1f} s "
        f"(first {sample}: {first_ms:.0f} ms/file, last {sample}: {last_ms:.0f} ms/file)"
    )
    full_build = dbt("full_build", "build", "--select", SCORE_PIPELINE)
    log(f"  full build of the history (untimed): {describe(full_build)}")
    return per_file, full_build


def landing_ms(per_file: list[float]) -> tuple[float, float]:
    """Mean milliseconds per file over the first and over the last LANDING_SAMPLE files landed (does landing slow
    down as raw grows?)."""
    sample = min(LANDING_SAMPLE, len(per_file))
    return 1000 * float(np.mean(per_file[:sample])), 1000 * float(np.mean(per_file[-sample:]))
