"""Opening a warehouse of any engine as a DuckDB connection: the loaders and every reader outside dbt speak
DuckDB's SQL to all three (a DuckDB file, a Postgres database attached, Spark's Parquet tables as views).
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb

from warehouse.errors import LandingError, WarehouseUnreachable


@contextlib.contextmanager
def connect(duckdb_path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    duckdb_path = Path(duckdb_path)
    if not read_only:
        duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(duckdb_path), read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def postgres_extension() -> Path:
    """DuckDB's postgres extension, from the PyPI package duckdb-extension-postgres-scanner (no download at run
    time). Its file must be named postgres_scanner.duckdb_extension: the entry point is named after the file."""
    spec = importlib.util.find_spec("duckdb_extension_postgres_scanner")
    if spec is None or not spec.submodule_search_locations:
        raise LandingError("DBT_TARGET=postgres needs the PyPI package duckdb-extension-postgres-scanner")
    return (Path(spec.submodule_search_locations[0]) / "extensions" / f"v{duckdb.__version__}"
            / "postgres_scanner.duckdb_extension")


def describe_dsn(dsn: str) -> str:
    """postgresql://user@host:port/dbname of a libpq connection string: for messages, never the password."""
    from psycopg2.extensions import parse_dsn

    parts = parse_dsn(dsn)
    return (f"postgresql://{parts.get('user', '')}@{parts.get('host', '')}:{parts.get('port', '5432')}"
            f"/{parts.get('dbname', '')}")


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
        raise LandingError(f"another process has been writing to the warehouse for {WRITER_LOCK_TIMEOUT}: "
                           "try again when it is done") from None
    return session


def target_warehouse(settings):
    """What `settings.dbt_target` writes into: the DuckDB file (a Path), or the Postgres server's connection
    settings (warehouse.local_postgres.Connection: PG*, or the project's local server, started if needed)."""
    if settings.dbt_target == "postgres":
        from warehouse.local_postgres import connection

        return connection(settings.postgres_server)
    if settings.dbt_target == "spark":
        from warehouse.spark import SparkWarehouse

        return SparkWarehouse(settings.spark_dir, settings.spark_master)
    return settings.duckdb_path


def open_warehouse(warehouse, read_only: bool = False) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
    """A DuckDB connection to a warehouse of any engine (a DuckDB file's Path, a Postgres Connection, a
    SparkWarehouse: its Parquet tables to read, its landing ledger to write): every reader and loader speaks
    DuckDB's SQL to all three."""
    from warehouse.spark import SparkWarehouse, open_landing, open_reader

    if isinstance(warehouse, (str, Path)):
        return connect(Path(warehouse), read_only=read_only)
    if isinstance(warehouse, SparkWarehouse):
        return open_reader(warehouse) if read_only else open_landing(warehouse)
    return connect_postgres(warehouse.dsn(), read_only=read_only)


def fixed_size_vectors(con: duckdb.DuckDBPyConnection, relation: str, column: str = "embedding") -> str:
    """`column` of `relation` as a select expression of type FLOAT[dim] on any engine: on DuckDB the column is
    FLOAT[dim] already; on Postgres (read through DuckDB) a vector column arrives as its text form '[0.1, ...]',
    on Spark (Parquet) as a plain list FLOAT[]: both cast back with the dimension of the first row (an empty table
    keeps its type: there is nothing to cast)."""
    first = con.execute(
        f"select typeof({column}), len(cast({column} as float[])) from {relation} where {column} is not null limit 1"
    ).fetchone()
    if first is None or first[0] not in ("VARCHAR", "FLOAT[]"):
        return column
    return f"cast({column} as float[{first[1]}])"


