"""What the service serves from the published copy (pipeline.publish), reloaded when a new copy is published.

`PublishedSnapshot(load, what)` holds one value read from the published file by `load(path)`: the search index
of a Retriever (search.retriever), the Retriever the service answers with (serving.api.service) and the
interest scores (serving.interests) all refresh through it. A publication is recognised by its
`published_file_key` (a new copy is renamed over the old one); readers take `current` once per request and the
value is swapped by assignment, so they see the old snapshot or the new one, never a mix.

- `load(path)`: read now; raises what the loader raises (the old snapshot keeps serving).
- `reload_if_changed(path)`: read again only when another copy was published; raises like `load`.
- `refresh(path)`: the background refresher's call. Never raises: a failure is kept in `error` (for /health),
  the old snapshot keeps serving, and that same file is not read again until another copy is published.

A loader raises `NothingPublished` when the copy holds nothing for it (e.g. a partial build published no
`user_interest_scores`): then the old snapshot is dropped, not served, since it is no longer what is published.
Loaders read the copy through `read_published(path, what, error)`: one read-only connection, closed after the
read, so no connection stays open on any DuckDB file.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Generic, Hashable, Iterator, TypeVar

from pipeline.publish import published_file_key

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

T = TypeVar("T")
FileKey = Hashable  # published_file_key's (inode, mtime, size), or another source's key


class NothingPublished(Exception):
    """The published copy holds nothing for this loader: stop serving the previous snapshot."""


@contextmanager
def read_published(path: Path, what: str, error: type[Exception]) -> Iterator["duckdb.DuckDBPyConnection"]:
    """A read-only connection to the published copy at `path`, closed on leaving the block. Raises `error` when
    nothing is published there ("no published <what> at <path>") or DuckDB cannot open the file."""
    import duckdb

    path = Path(path)
    if not path.is_file():
        raise error(f"no published {what} at {path}: run `make run` (land, dbt build, publish)")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise error(f"cannot open {path}: {exc}") from None
    # a long load (the search index) would otherwise print DuckDB's progress bar into the service's log
    con.execute("SET enable_progress_bar = false")
    try:
        yield con
    finally:
        con.close()


class PublishedSnapshot(Generic[T]):
    """One value loaded from the published file, replaced when a newly published file has been fully loaded."""

    def __init__(self, load: Callable[[Path], T], what: str, key: Callable[[Path], Hashable | None] | None = None):
        self._load = load
        self.what = what  # for the log: "search index", "interest scores"
        # what identifies one publication of `path` (None: nothing published): the published file's key by
        # default; the Postgres search backend passes its table's (search.pgvector.PostgresIndex.key)
        self._file_key = key or (lambda path: published_file_key(Path(path)))
        self.current: T | None = None
        self.error: str | None = None  # why the last refresh failed; cleared by the next successful load
        self._key: FileKey | None = None  # the publication `current` was read from
        self._failed_key: FileKey | None = None
        self._lock = threading.Lock()  # one load at a time; readers never take it

    def load(self, path: Path) -> T:
        """Read `path` now and serve what it holds. Raises what the loader raises."""
        with self._lock:
            return self._swap(path, self._file_key(path))

    def reload_if_changed(self, path: Path) -> bool:
        """Read `path` if another copy was published since `current` was read; True when it was swapped in.
        Raises what the loader raises; nothing published (or the file vanished) keeps the snapshot."""
        return self._reload_if_changed(path, self._file_key(path))

    def refresh(self, path: Path) -> bool:
        """`reload_if_changed` that never raises and does not read the same failed file twice."""
        key = self._file_key(path)
        if key is None or key == self._failed_key:
            return False
        try:
            return self._reload_if_changed(path, key)
        except Exception as exc:  # noqa: BLE001 - the refresher must survive any bad file
            self.error, self._failed_key = str(exc), key
            log.warning("cannot load the %s from %s: %s", self.what, path, exc)
            return False

    def _reload_if_changed(self, path: Path, key: FileKey | None) -> bool:
        if key is None or key == self._key:
            return False
        with self._lock:
            if key == self._key:
                return False  # another thread loaded this copy meanwhile
            self._swap(path, key)
        return True

    def _swap(self, path: Path, key: FileKey | None) -> T:
        # `key` is taken before reading: a copy published during the read has another key and is read next time
        try:
            value = self._load(path)
        except NothingPublished:
            self.current, self._key = None, None
            raise
        self.current, self._key = value, key
        self.error, self._failed_key = None, None
        log.info("serving the %s from %s", self.what, path)
        return value
