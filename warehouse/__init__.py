"""The warehouse of any engine, one type (`Warehouse`): a DuckDB file, a Postgres database or a Spark warehouse,
each opened as a DuckDB connection by the loaders and readers, and described to dbt by the same object. The local
servers the project starts for them live here too (`python -m warehouse stop|start|status|reset`)."""

from __future__ import annotations

from core.settings import Settings
from warehouse.base import Warehouse
from warehouse.duckdb_file import DuckDBWarehouse, connect
from warehouse.errors import LandingError, WarehouseUnreachable
from warehouse.local_postgres import connection as postgres_server
from warehouse.postgres import PostgresWarehouse
from warehouse.spark import SparkWarehouse

__all__ = [
    "DuckDBWarehouse",
    "LandingError",
    "PostgresWarehouse",
    "SparkWarehouse",
    "Warehouse",
    "WarehouseUnreachable",
    "connect",
    "target_warehouse",
]


def target_warehouse(settings: Settings) -> Warehouse:
    """The warehouse DBT_TARGET names: the DuckDB file DUCKDB_PATH, the Postgres database PG* names (else the
    project's local server, started if needed), or the Spark warehouse under SPARK_DIR."""
    if settings.dbt_target == "postgres":
        return PostgresWarehouse(postgres_server(settings.postgres_server))
    if settings.dbt_target == "spark":
        return SparkWarehouse(
            settings.spark_dir, settings.spark_master, settings.spark_shuffle_partitions, settings.spark_driver_memory
        )
    return DuckDBWarehouse(settings.duckdb_path, settings.duckdb_memory_limit)
