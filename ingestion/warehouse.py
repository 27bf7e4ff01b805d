"""The one raw landing mechanism: atomic, idempotent writes into the `raw` schema, with lineage.

Every landed file is recorded in `raw.landed_files` (source, key, file, content hash, rows, loaded_at).
Loaders open a short-lived connection, do one transaction per file and close it, so they never hold
DuckDB's single writer lock longer than one file takes.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

LINEAGE_DDL = """
create schema if not exists raw;
create table if not exists raw.landed_files (
    source varchar not null,        -- which raw table the file landed in
    landing_key varchar not null,   -- what the file is (a batch number, a document id)
    source_file varchar not null,
    content_hash varchar not null,  -- sha256 of the file's bytes
    row_count integer not null,
    loaded_at timestamp not null,
    primary key (source, landing_key)
);
"""


class LandingError(Exception):
    """A file that cannot be landed. The message names the file and the problem; nothing was written."""


class MissingFileError(LandingError, FileNotFoundError):
    """An expected input file is absent (a document's texts without its pages): a LandingError, so the land
    command reports it as one, and a FileNotFoundError for callers that look for files themselves."""


@dataclass(frozen=True)
class LandingUnit:
    """What lands whole or is refused whole (a batch file, a document's two files, a corpus folder, the interests
    folder): `land` writes it in one transaction and returns the loader's result, or raises LandingError."""

    name: str  # the file or folder, for messages
    land: Callable[[duckdb.DuckDBPyConnection], object]


def refused_unit(name: str, reason: str) -> LandingUnit:
    """A unit refused before it is read (a file name that breaks its source's rule): landing it raises `reason`."""
    def refuse(con: duckdb.DuckDBPyConnection) -> object:
        raise LandingError(reason)

    return LandingUnit(name, refuse)


@dataclass(frozen=True)
class FolderContents:
    """Everything found in a source's folder: the units to land (in landing order), and every other file with
    why it is not landed, so nothing found is skipped without a word."""

    units: list[LandingUnit]
    ignored: list[tuple[Path, str]] = field(default_factory=list)


def refuse_unstorable(value: object, where: str) -> None:
    """LandingError "<where> <why>" when `value` is a string some engine cannot store (see _unstorable); the one
    check every loader runs on every landed string field."""
    problem = _unstorable(value) if isinstance(value, str) else None
    if problem:
        raise LandingError(f"{where} {problem}")


def storable_free_text(value: str, where: str) -> tuple[str, int]:
    """Free text (a document text, a passage, a query) as every engine can store it, and how many NUL characters
    (U+0000) were removed to make it so. Postgres text holds no NUL, and a NUL renders as nothing, so removing it
    keeps what the text says (a text of NULs alone becomes blank, and a `blank_text` reject in dbt); the loaders
    report every removal. What cannot be repaired (a lone surrogate) is refused as by refuse_unstorable.
    Identifiers (ids, page refs, handles, industries) are never repaired: a NUL there is refused."""
    removed = value.count("\x00")
    value = value.replace("\x00", "") if removed else value
    refuse_unstorable(value, where)
    return value, removed


def _unstorable(text: str) -> str | None:
    """Why a string cannot be landed in every engine, or None. Postgres text holds no NUL character (DuckDB's
    VARCHAR does: refused on both, so bad input fails the same way on both), and a lone surrogate (a JSON escape
    such as \\ud800 decodes to one) is not Unicode that UTF-8 can hold."""
    if "\x00" in text:
        return "contains a NUL character (U+0000), which the Postgres target cannot store"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (an unpaired \\ud800-\\udfff escape), which is not valid Unicode"
    return None


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


class WarehouseUnreachable(LandingError):
    """The warehouse's server could not be reached or refused the login: nothing was read or written. The message
    names the server (user, host, port, database), never the password. A LandingError, so every command that
    reports landing errors reports this one the same way instead of a traceback."""


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
    settings (ingestion.engines.postgres.Connection: PG*, or the project's local server, started if needed)."""
    if settings.dbt_target == "postgres":
        from ingestion.engines.postgres import connection

        return connection(settings.postgres_server)
    if settings.dbt_target == "spark":
        from ingestion.engines.spark import SparkWarehouse

        return SparkWarehouse(settings.spark_dir, settings.spark_master)
    return settings.duckdb_path


def open_warehouse(warehouse, read_only: bool = False) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
    """A DuckDB connection to a warehouse of any engine (a DuckDB file's Path, a Postgres Connection, a
    SparkWarehouse: its Parquet tables to read, its landing ledger to write): every reader and loader speaks
    DuckDB's SQL to all three."""
    from ingestion.engines.spark import SparkWarehouse, open_landing, open_reader

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


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection, *ddl: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: a failure anywhere inside rolls the warehouse back to where it was.

    `ddl` creates the raw tables the landing needs inside the same transaction, so even a first, failed
    landing leaves a fresh warehouse untouched.
    """
    con.execute("begin transaction")
    try:
        for statement in (LINEAGE_DDL, *ddl):
            con.execute(statement)
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 of a file read in 1 MiB blocks (model weights and corpora need not fit in memory at once)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def landed(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, tuple[str, str]]:
    """landing_key -> (content_hash, source_file) of everything already landed for a source."""
    rows = con.execute(
        "select landing_key, content_hash, source_file from raw.landed_files where source = ?", [source]
    ).fetchall()
    return {key: (content_hash, source_file) for key, content_hash, source_file in rows}


def record_landing(
    con: duckdb.DuckDBPyConnection, source: str, key: str, source_file: str, content_hash: str, row_count: int
) -> None:
    con.execute(
        """
        insert or replace into raw.landed_files
        values (?, ?, ?, ?, ?, current_timestamp::timestamp)
        """,
        [source, key, source_file, content_hash, row_count],
    )
