"""DBT_TARGET=postgres: the warehouse is a Postgres database (PG*, or the project's local server), which the
loaders and readers reach through DuckDB's postgres extension (ATTACH ... (TYPE postgres)) and dbt through
dbt-postgres."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from core.settings import PROJECT_ROOT, PostgresServer
from warehouse.base import Warehouse
from warehouse.errors import LandingError, WarehouseUnreachable


@dataclass(frozen=True)
class PostgresWarehouse(Warehouse):
    """A Postgres database: the server's address and login (never printed with its password)."""

    server: PostgresServer
    engine = "postgres"
    models_schema = "public"

    def __str__(self) -> str:
        return str(self.server)

    def open(self, read_only: bool = False) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
        return connect_postgres(self.server.dsn(), read_only=read_only)

    def attach(self, con: duckdb.DuckDBPyConnection, alias: str) -> None:
        attach_postgres(con, self.server.dsn(), alias, read_only=True)

    def require_built(self) -> None:
        pass  # a server holds no file to look for: reading says what is missing

    def dbt_env(self) -> dict[str, str]:
        return {"DBT_TARGET": self.engine, **self.server.env()}

    def unfinished_build_marker(self) -> Path:
        # under .engines/: it knows only of the builds this checkout ran
        server = self.server
        return PROJECT_ROOT / ".engines" / f"postgres-{server.host}-{server.port}-{server.dbname}.build-unfinished"

    def reset(self) -> None:
        create_database(self.server, self.server.dbname, fresh=True)
        self.unfinished_build_marker().unlink(missing_ok=True)


def postgres_extension() -> Path:
    """DuckDB's postgres extension, from the PyPI package duckdb-extension-postgres-scanner (no download at run
    time). Its file must be named postgres_scanner.duckdb_extension: the entry point is named after the file."""
    spec = importlib.util.find_spec("duckdb_extension_postgres_scanner")
    if spec is None or not spec.submodule_search_locations:
        raise LandingError("DBT_TARGET=postgres needs the PyPI package duckdb-extension-postgres-scanner")
    return (
        Path(spec.submodule_search_locations[0])
        / "extensions"
        / f"v{duckdb.__version__}"
        / "postgres_scanner.duckdb_extension"
    )


def describe_dsn(dsn: str) -> str:
    """postgresql://user@host:port/dbname of a libpq connection string: for messages, never the password."""
    from psycopg2.extensions import parse_dsn

    parts = parse_dsn(dsn)
    return (
        f"postgresql://{parts.get('user', '')}@{parts.get('host', '')}:{parts.get('port', '5432')}"
        f"/{parts.get('dbname', '')}"
    )


def _unreachable(dsn: str, exc: Exception) -> WarehouseUnreachable:
    from psycopg2.extensions import parse_dsn

    reason = str(exc).strip()
    # DuckDB's postgres extension quotes the whole connection string, password included
    reason = re.sub(r'^IO Error: Unable to connect to Postgres at ".*?": ', "", reason, flags=re.S)
    password = parse_dsn(dsn).get("password")
    if password:
        reason = reason.replace(password, "***")
    return WarehouseUnreachable(f"cannot connect to the Postgres warehouse {describe_dsn(dsn)}: {reason}")


@contextlib.contextmanager
def connect_postgres(dsn: str, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection whose default database is a Postgres database (ATTACH ... (TYPE postgres); USE).

    The loaders run unchanged through it: their `begin transaction` .. `commit` is one Postgres transaction
    (DuckDB opens it on the Postgres connection and commits or rolls it back with its own), their SQL is
    DuckDB's, and Arrow tables registered on the connection are copied in with Postgres's binary COPY.
    A server that cannot be reached or refuses the login raises WarehouseUnreachable (without the password).
    """
    writer_lock = None if read_only else _one_writer(dsn)
    con = duckdb.connect()
    try:
        attach_postgres(con, dsn, "warehouse", read_only)
        con.execute("use warehouse")
        yield con
    finally:
        con.close()
        if writer_lock is not None:
            writer_lock.close()  # ends the session: the lock is released


def attach_postgres(con: duckdb.DuckDBPyConnection, dsn: str, alias: str, read_only: bool = False) -> None:
    """ATTACH the Postgres database `dsn` to a DuckDB connection as `alias`; WarehouseUnreachable (naming the
    server, never the password: DuckDB's own message quotes the whole connection string) when it cannot."""
    con.execute(f"load '{postgres_extension()}'")
    quoted = dsn.replace("'", "''")  # ATTACH takes no parameters
    try:
        con.execute(f"attach '{quoted}' as {alias} (type postgres{', read_only' if read_only else ''})")
    except duckdb.IOException as exc:
        raise _unreachable(dsn, exc) from None


# A writing connection to Postgres holds this session-level advisory lock, as a writing DuckDB connection holds
# the file's lock: loaders of two processes never interleave (each would otherwise check "already landed" on a
# snapshot without the other's files and fail on a primary key instead of landing or refusing cleanly).
# (A transaction-level lock through postgres_execute does not work: the extension runs its transactions as
# REPEATABLE READ on pooled connections, measured to deadlock two loaders.)
WRITER_LOCK = 7301
WRITER_LOCK_TIMEOUT = "120s"


def _one_writer(dsn: str):
    import psycopg2

    try:
        session = psycopg2.connect(dsn)
    except psycopg2.OperationalError as exc:
        raise _unreachable(dsn, exc) from None
    session.autocommit = True
    try:
        with session.cursor() as cursor:
            cursor.execute(f"set lock_timeout = '{WRITER_LOCK_TIMEOUT}'")
            cursor.execute("select pg_advisory_lock(%s)", [WRITER_LOCK])
    except psycopg2.errors.LockNotAvailable:
        session.close()
        raise LandingError(
            f"another process has been writing to the warehouse for {WRITER_LOCK_TIMEOUT}: try again when it is done"
        ) from None
    return session


def create_database(server: PostgresServer, name: str, fresh: bool = False, vector: bool = True) -> PostgresServer:
    """The database `name` on `server`'s server, with the vector extension (unless not `vector`: a database that
    holds no vectors, the orchestrator's): created if missing (dropped and created again when `fresh`). Returns
    `server` pointed at it. Needs the CREATEDB privilege."""
    import psycopg2
    from psycopg2 import sql

    admin = psycopg2.connect(dataclasses.replace(server, dbname="postgres").dsn())
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            if fresh:
                cursor.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
            cursor.execute("select 1 from pg_database where datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    finally:
        admin.close()
    database = dataclasses.replace(server, dbname=name)
    if not vector:
        return database
    con = psycopg2.connect(database.dsn())
    con.autocommit = True
    try:
        with con.cursor() as cursor:
            cursor.execute("create extension if not exists vector")
    finally:
        con.close()
    return database
