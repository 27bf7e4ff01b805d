"""Fixtures of the Postgres reliability modules (bad input, interruptions, external servers): one throwaway server
and the real score batches' reference landing and marts, built once for all three."""

from __future__ import annotations

import shutil

import pytest

from landing.land import land_all
from tests.support.data import REAL_SCORE_BATCHES, require_real
from tests.support.postgres import BUILD, FILE_COLUMNS, SCORE_COLUMNS, dbt_env, fresh_database, marts, run
from tests.support.warehouses import throwaway_postgres
from warehouse import DuckDBWarehouse, PostgresWarehouse
from warehouse.duckdb_file import connect


@pytest.fixture(scope="session")
def reliability_postgres():
    yield from throwaway_postgres("postgres-test-reliability")


@pytest.fixture(scope="session")
def score_data(tmp_path_factory):
    """A DATA_DIR holding only the 20 real score batches, and what a clean landing of it holds (into DuckDB):
    ({batch: (source_file, content_hash, row_count)}, [rows in batch, record_index order])."""
    folder = tmp_path_factory.mktemp("score_data")
    data_dir = folder / "data"
    shutil.copytree(require_real(REAL_SCORE_BATCHES), data_dir / "score_batches")
    land_all(data_dir, DuckDBWarehouse(folder / "clean.duckdb"))
    with connect(folder / "clean.duckdb", read_only=True) as con:
        files = con.execute(f"select {FILE_COLUMNS} from raw.landed_files where source = 'score_batches'").fetchall()
        rows = con.execute(f"select {SCORE_COLUMNS} from raw.score_batches order by batch, record_index").fetchall()
    return data_dir, {batch: rest for batch, *rest in map(tuple, files)}, rows


@pytest.fixture(scope="session")
def uninterrupted_marts(reliability_postgres, score_data, tmp_path_factory):
    """The score marts of the 20 real batches landed and built once, without interruption."""
    folder = tmp_path_factory.mktemp("dbt_uninterrupted")
    server = fresh_database(reliability_postgres, "dbt_uninterrupted")
    land_all(score_data[0], PostgresWarehouse(server))
    build = run("pipeline.dbt_runner", dbt_env(server, folder), *BUILD)
    assert build.returncode == 0, build.stdout[-3000:]
    return marts(server)
