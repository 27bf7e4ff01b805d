"""The one warehouse type: whatever the engine, the platform's code holds a `Warehouse` and asks it to open, attach,
describe itself to dbt, or start over. Engine differences live in its three subclasses (a DuckDB file, a Postgres
database, a Spark warehouse), never in the callers."""

from __future__ import annotations

import contextlib
import datetime
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import duckdb


class Warehouse(ABC):
    engine: ClassVar[str]  # DBT_TARGET's name for it: duckdb, postgres or spark
    models_schema: ClassVar[str] = "main"  # where dbt builds the models (Postgres: public)

    @abstractmethod
    def open(self, read_only: bool = False) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A DuckDB connection whose default catalog is this warehouse: every loader and reader outside dbt speaks
        DuckDB's SQL to every engine. Writing holds the engine's single-writer lock until closed."""

    @abstractmethod
    def attach(self, con: duckdb.DuckDBPyConnection, alias: str) -> None:
        """This warehouse ATTACHed read-only to another DuckDB connection as catalog `alias` (publishing copies
        from it into a file of its own)."""

    @abstractmethod
    def require_built(self) -> None:
        """LandingError saying what to run when there is plainly nothing here yet (a missing file or folder)."""

    @abstractmethod
    def dbt_env(self) -> dict[str, str]:
        """What profiles.yml reads to reach this warehouse: DBT_TARGET and its output's settings."""

    @abstractmethod
    def unfinished_build_marker(self) -> Path:
        """The file saying that a build of this warehouse started and has not succeeded (pipeline.dbt_runner)."""

    @abstractmethod
    def reset(self) -> None:
        """Drop everything landed and built, so the next `make run` starts from nothing (`make clean`)."""

    def last_written(self) -> datetime.datetime:
        """When the warehouse was last written, as far as one can tell: now, unless the engine keeps one time."""
        return datetime.datetime.now(datetime.timezone.utc)


def default_schema_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The tables and views of the default schema of a connection Warehouse.open gave (main on DuckDB and Spark's
    views, public on Postgres): what exists to read."""
    rows = con.execute(
        "select table_name from information_schema.tables where table_catalog = current_database() "
        "and table_schema = current_schema()"
    ).fetchall()
    return {name for (name,) in rows}
