"""The one raw landing mechanism: atomic, idempotent writes into the `raw` schema, with lineage.

Every landed file is recorded in `raw.landed_files` (source, key, file, content hash, rows, loaded_at).
Loaders open a short-lived connection, do one transaction per file and close it, so they never hold
DuckDB's single writer lock longer than one file takes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from warehouse.errors import LandingError

LINEAGE_DDL = """
create schema if not exists raw;
create table if not exists raw.landed_files (
    source varchar not null,        -- which raw table the file landed in
    landing_key varchar not null,   -- what the file is (a batch number, a document id)
    source_file varchar not null,
    content_hash varchar not null,  -- sha256 of the file's bytes
    row_count integer not null,
    loaded_at timestamp not null,
    file_size bigint,               -- the file's size and modification time when it landed (score batches): the
    file_mtime_ns bigint,           -- same file, both unchanged, is known as landed without being read again
    primary key (source, landing_key)
);
alter table raw.landed_files add column if not exists file_size bigint;
alter table raw.landed_files add column if not exists file_mtime_ns bigint;
"""


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


def landed(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, tuple[str, str]]:
    """landing_key -> (content_hash, source_file) of everything already landed for a source."""
    rows = con.execute(
        "select landing_key, content_hash, source_file from raw.landed_files where source = ?", [source]
    ).fetchall()
    return {key: (content_hash, source_file) for key, content_hash, source_file in rows}


def record_landing(
    con: duckdb.DuckDBPyConnection,
    source: str,
    key: str,
    source_file: str,
    content_hash: str,
    row_count: int,
    file_stat: os.stat_result | None = None,
) -> None:
    """The file's lineage row; with `file_stat` (the stat of the bytes that landed), a later landing knows the
    unchanged file without reading it (LandedFiles)."""
    size, mtime_ns = (file_stat.st_size, file_stat.st_mtime_ns) if file_stat is not None else (None, None)
    con.execute(
        """
        insert or replace into raw.landed_files
            (source, landing_key, source_file, content_hash, row_count, loaded_at, file_size, file_mtime_ns)
        values (?, ?, ?, ?, ?, current_timestamp::timestamp, ?, ?)
        """,
        [source, key, source_file, content_hash, row_count, size, mtime_ns],
    )


def record_stat(con: duckdb.DuckDBPyConnection, source: str, key: str, source_file: str, stat: os.stat_result) -> None:
    """The size and modification time of a landed file found unchanged in content where it landed from
    (LandedFiles reads them); the lineage itself (which file, which bytes, when) stays as it landed."""
    con.execute(
        "update raw.landed_files set file_size = ?, file_mtime_ns = ? "
        "where source = ? and landing_key = ? and source_file = ?",
        [stat.st_size, stat.st_mtime_ns, source, key, source_file],
    )


class LandedFiles:
    """The files a source has landed, as stat() saw them when they landed, read from the ledger once (on first use)
    and then looked up per file: landing a folder of N landed files costs N stat() calls, not N reads and parses.
    A file whose size or modification time changed is not known here, so it is read, hashed and checked in full
    (refused when its batch landed with other content)."""

    def __init__(self, source: str):
        self.source = source
        self._by_file: dict[str, tuple[str, int, int]] | None = None

    def known(self, con: duckdb.DuckDBPyConnection, path: Path, stat: os.stat_result) -> str | None:
        """The landing key `path` landed under, if it landed with this very size and modification time."""
        if self._by_file is None:
            try:
                rows = con.execute(
                    "select source_file, landing_key, file_size, file_mtime_ns from raw.landed_files "
                    "where source = ? and file_size is not null",
                    [self.source],
                ).fetchall()
            except duckdb.CatalogException:  # nothing landed yet: no ledger
                rows = []
            self._by_file = {source_file: (key, size, mtime_ns) for source_file, key, size, mtime_ns in rows}
        entry = self._by_file.get(str(path))
        if entry is None or (entry[1], entry[2]) != (stat.st_size, stat.st_mtime_ns):
            return None
        return entry[0]
