"""Starting over is one command on every engine (`make clean` runs `python -m warehouse reset`): the sample lands
into a local Postgres that holds the real batches only after a reset, which empties the DuckDB file, the local
Postgres database and the Spark warehouse alike."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT, Settings
from landing.land import land_all
from tests.support.data import REAL_SCORE_BATCHES, require_real
from tests.support.warehouses import throwaway_postgres
from warehouse import DuckDBWarehouse, LandingError, PostgresWarehouse, SparkWarehouse
from warehouse.__main__ import reset_local_warehouses
from warehouse.local_postgres import LocalPostgres

SAMPLE = PROJECT_ROOT / "sample_data"


@pytest.fixture(scope="module")
def postgres():
    yield from throwaway_postgres("postgres-test-reset")


def real_batch_0(folder: Path) -> Path:
    """A DATA_DIR holding real batch 0: the same batch number as the sample's batch_0.json, other content."""
    (folder / "score_batches").mkdir(parents=True)
    (folder / "score_batches" / "batch_0.json").write_bytes(
        (require_real(REAL_SCORE_BATCHES) / "batch_0.json").read_bytes()
    )
    return folder


def sample_batches_only(folder: Path) -> Path:
    (folder / "score_batches").mkdir(parents=True)
    for path in sorted((SAMPLE / "score_batches").glob("batch_*.json")):
        (folder / "score_batches" / path.name).write_bytes(path.read_bytes())
    return folder


def landed_batches(warehouse) -> int:
    with warehouse.open(read_only=True) as con:
        return con.execute("select count(*) from raw.landed_files where source = 'score_batches'").fetchone()[0]


def test_reset_lets_the_sample_land_where_the_real_batches_were(postgres, tmp_path: Path, capsys):
    real, sample = real_batch_0(tmp_path / "real"), sample_batches_only(tmp_path / "sample")
    settings = dataclasses.replace(
        Settings.from_env(),
        duckdb_path=tmp_path / "warehouse.duckdb",
        published_path=tmp_path / "warehouse.published.duckdb",
        spark_dir=tmp_path / "spark",
        postgres_server=None,
    )
    warehouses = [
        DuckDBWarehouse(settings.duckdb_path),
        PostgresWarehouse(postgres),
        SparkWarehouse(settings.spark_dir),
    ]
    for warehouse in warehouses:
        land_all(real, warehouse)
        with pytest.raises(LandingError, match="refused"):  # what a user meets today: batch 0, other content
            land_all(sample, warehouse)
    capsys.readouterr()

    server = LocalPostgres(PROJECT_ROOT / ".engines" / "postgres-test-reset")  # the fixture's, already running
    done = reset_local_warehouses(settings, server)
    assert [line.split(":")[0] for line in done] == ["duckdb", "postgres", "spark"], done
    assert not settings.duckdb_path.exists() and not settings.spark_dir.exists()

    for warehouse in warehouses:
        land_all(sample, warehouse)
        assert landed_batches(warehouse) == 8, warehouse
