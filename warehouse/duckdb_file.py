"""DBT_TARGET=duckdb: the warehouse is one embedded DuckDB file (DUCKDB_PATH)."""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from core.settings import DEFAULT_DUCKDB_MEMORY_LIMIT
from warehouse.base import Warehouse
from warehouse.errors import LandingError


@contextlib.contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the DuckDB file `path`, closed on exit (never held longer: one writer process at a time)."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        yield con
    finally:
        con.close()


@dataclass(frozen=True)
class DuckDBWarehouse(Warehouse):
    """A DuckDB file. It is path-like (`os.fspath`, `Path(warehouse)`), because it is a file."""

    path: Path
    memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT  # for dbt's builds (core.settings: DUCKDB_MEMORY_LIMIT)
    engine = "duckdb"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def open(self, read_only: bool = False) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
        return connect(self.path, read_only=read_only)

    def attach(self, con: duckdb.DuckDBPyConnection, alias: str) -> None:
        quoted = str(self.path).replace("'", "''")  # ATTACH takes no parameters
        con.execute(f"attach '{quoted}' as {alias} (read_only)")

    def require_built(self) -> None:
        if not self.path.is_file():
            raise LandingError(f"no warehouse at {self.path}: run `make run` (land + dbt build) first")

    def dbt_env(self) -> dict[str, str]:
        return {"DBT_TARGET": self.engine, "DUCKDB_PATH": str(self.path), "DUCKDB_MEMORY_LIMIT": self.memory_limit}

    def unfinished_build_marker(self) -> Path:
        return self.path.with_name(f"{self.path.name}.build-unfinished")

    def reset(self) -> None:
        for path in (self.path, Path(f"{self.path}.wal"), self.unfinished_build_marker()):
            path.unlink(missing_ok=True)

    def last_written(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(os.stat(self.path).st_mtime, datetime.timezone.utc)
