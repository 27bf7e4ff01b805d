"""Incremental on Postgres: the 20 real batches landed as they might arrive, one at a time through the cold start and
the first full windows, then a backlog of several at once, with a dbt run of the score pipeline after each arrival,
give the same marts as all 20 landed at once and built once (tests/models/test_score_pipeline_real.py proves the
one-at-a-time case for all 20 on DuckDB). Two databases on one throwaway server (its own, under .engines/, stopped
at the end): `warehouse` built batch by batch, `all_at_once` built once; floats within 1e-9, everything else exact,
`loaded_at` left out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.scores.dbt_timing import SCORE_PIPELINE
from landing.land import ensure_raw_tables
from landing.score_batches import batch_files, land_score_batch, land_score_batches
from pipeline.dbt_runner import run_dbt
from tests.support.data import REAL_SCORE_BATCHES, require_real
from tests.support.score_marts import MARTS, assert_same, read
from tests.support.warehouses import throwaway_postgres
from warehouse import PostgresWarehouse
from warehouse.local_postgres import create_database
from warehouse.postgres import connect_postgres


@pytest.fixture(scope="module")
def postgres():
    yield from throwaway_postgres("postgres-test-incremental")


def dbt(database, folder: Path, *args: str) -> None:
    run_dbt(
        PostgresWarehouse(database),
        [*args, "--select", SCORE_PIPELINE],
        target_path=folder / f"target_{database.dbname}",
    )


def count(database, table: str) -> int:
    with connect_postgres(database.dsn(), read_only=True) as con:
        return con.execute(f"select count(*) from {table}").fetchone()[0]


ARRIVALS = (1, 1, 1, 1, 4, 12)  # batches landed before each dbt run: 20 in all


@pytest.mark.slow
def test_batches_built_as_they_arrive_equal_all_at_once(postgres, tmp_path):
    require_real(REAL_SCORE_BATCHES)
    paths = batch_files(REAL_SCORE_BATCHES)
    assert len(paths) == sum(ARRIVALS) == 20

    # arrival by arrival: its batches landed, then the score pipeline run on what is there (the first time a
    # build, which also loads the seed known_industries; `dbt run` leaves seeds alone)
    batch_by_batch, landed = postgres, 0
    for number, arriving in enumerate(ARRIVALS):
        with connect_postgres(batch_by_batch.dsn()) as con:
            ensure_raw_tables(con)
            for path in paths[landed : landed + arriving]:
                assert land_score_batch(con, path).status == "landed"
        landed += arriving
        dbt(batch_by_batch, tmp_path, "build" if number == 0 else "run")
        if landed == 2:  # cold start: two batches, no full window, no percentiles yet
            assert count(batch_by_batch, "scores") == count(batch_by_batch, "percentile_history") == 0
    assert count(batch_by_batch, "raw.score_batches") == 8000

    # all at once, in a second database on the same server
    all_at_once = create_database(postgres, "all_at_once", fresh=True)
    with connect_postgres(all_at_once.dsn()) as con:
        ensure_raw_tables(con)
        assert {r.status for r in land_score_batches(con, REAL_SCORE_BATCHES)} == {"landed"}
    dbt(all_at_once, tmp_path, "build")

    for table in MARTS:
        with connect_postgres(all_at_once.dsn(), read_only=True) as con:
            expected = read(con, table)
        with connect_postgres(batch_by_batch.dsn(), read_only=True) as con:
            actual = read(con, table)
        assert len(expected) > 0, table
        assert_same(expected, actual, table)
    assert count(batch_by_batch, "scores") == 7837 and count(batch_by_batch, "score_rejects") == 163
