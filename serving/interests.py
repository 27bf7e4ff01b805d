"""The published `user_interest_scores` mart in memory, for `GET /interests/{user_handle}`.

`InterestStore.load(published_path)` reads the published copy (pipeline.publish) in one read-only connection
with two fixed SELECTs and keeps, per user, the interests sorted by probability (best first) in flat numpy
arrays: a request is a dict lookup and a slice, never SQL or model work. The store holds one immutable
snapshot, reloaded through pipeline.snapshot when a new copy is published and swapped by assignment, so a
reader sees the old snapshot or the new one, never a mix.

Only a user's best `MAX_LIMIT` interests are kept (the endpoint never returns more), so memory grows with
users x 100, not users x the catalogue.

A published copy may hold `search_chunks` but no `user_interest_scores` (pipeline.publish copies only the
served marts that were built, e.g. after `python -m ingestion <doc_id>` on a fresh warehouse). That copy means
"no interest scores published": the store drops any snapshot it held, the endpoint answers 503 and /health
says why, while search keeps serving the same copy.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.snapshot import NothingPublished, PublishedSnapshot, read_published

log = logging.getLogger(__name__)

MAX_LIMIT = 100  # the most interests one request can ask for, and so the most kept per user
DEFAULT_LIMIT = 10
# user handles are UUIDs in the data; the API accepts letters, digits, '-' and '_' (like document ids), 1-64
HANDLE_PATTERN = re.compile(r"[0-9A-Za-z_-]{1,64}")
HANDLE_RULE = "1 to 64 letters, digits, '-' or '_' (a UUID such as e337a675-46f5-437e-aa72-5d43643b5461)"

TABLE = "user_interest_scores"
_USERS_SQL = f"""
    select user_handle, any_value(name) as name, any_value(user_type) as user_type,
           bool_or(is_cold_start) as cold_start,
           string_agg(distinct model_version, ', ' order by model_version) as model_version
    from {TABLE}
    group by user_handle
    order by user_handle
"""
# the same user order as _USERS_SQL (both order by user_handle); within a user best first, ties by rank
_ROWS_SQL = f"""
    select dense_rank() over (order by user_handle) - 1 as user_index, interest_id, label, probability
    from {TABLE}
    qualify row_number() over (partition by user_handle order by probability desc, rank, interest_id) <= {MAX_LIMIT}
    order by user_handle, probability desc, rank, interest_id
"""


class InterestStoreError(Exception):
    """No interest scores can be served (nothing published yet, or the published copy cannot be read)."""


class InterestTableMissing(InterestStoreError, NothingPublished):
    """The published copy holds no `user_interest_scores` table: no interest scores are published."""


def validate_handle(handle: object) -> str:
    if not isinstance(handle, str) or not HANDLE_PATTERN.fullmatch(handle):
        shown = handle if isinstance(handle, str) and len(handle) <= 80 else f"{str(handle)[:80]}..."
        raise ValueError(f"invalid user handle {shown!r}: use {HANDLE_RULE}")
    return handle


def validate_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    return int(limit)


def validate_min_probability(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.floating))
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise ValueError(f"min_probability must be a number from 0 to 1, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class UserInterests:
    user_handle: str
    name: str | None
    user_type: str | None
    model_version: str | None
    cold_start: bool
    interest_ids: list[str]  # best first
    labels: list[str]
    probabilities: list[float]


@dataclass(frozen=True)
class InterestSnapshot:
    """One published file's scores. Row r of the flat arrays belongs to the user whose [starts[u], starts[u+1])
    holds r; a user's rows are best first."""

    users: dict[str, int]  # handle -> user index
    handles: list[str]
    names: list[str | None]
    user_types: list[str | None]
    cold_start: list[bool]
    model_versions: list[str | None]
    starts: np.ndarray  # int64, users + 1
    interest_codes: np.ndarray  # int32 per row, into interest_ids
    label_codes: np.ndarray  # int32 per row, into labels
    negated_probabilities: np.ndarray  # float64 per row, ascending within a user (for searchsorted)
    interest_ids: list[str]
    labels: list[str]
    model_version: str | None  # every version in the table, comma-separated (one after a normal build)

    @property
    def size(self) -> int:
        return len(self.handles)

    @property
    def rows(self) -> int:
        return len(self.interest_codes)

    @classmethod
    def load(cls, published_path: Path) -> "InterestSnapshot":
        import pyarrow.compute as pc

        path = Path(published_path)
        started = time.perf_counter()
        with read_published(path, "copy", InterestStoreError) as con:
            tables = {
                row[0]
                for row in con.execute(
                    "select table_name from information_schema.tables where table_schema = 'main'"
                ).fetchall()
            }
            if TABLE not in tables:
                raise InterestTableMissing(
                    f"no interest scores published: {path} has no {TABLE} table (a partial build such as "
                    f"`python -m ingestion <doc_id>`, or one from before the interest model, publishes only "
                    "search_chunks): run `make run` (land, dbt build, publish)"
                )
            users = con.execute(_USERS_SQL).to_arrow_table()
            rows = con.execute(_ROWS_SQL).to_arrow_table()

        probability = rows.column("probability")
        if probability.null_count or (
            rows.num_rows
            and not (pc.all(pc.and_(pc.greater_equal(probability, 0.0), pc.less_equal(probability, 1.0))).as_py())
        ):
            # NaN fails both comparisons; a bad value would otherwise break JSON encoding on the request path
            raise InterestStoreError(f"{path}: {TABLE}.probability holds values outside [0, 1] or nulls")
        handles = users.column("user_handle").to_pylist()
        missing = [column for column in ("interest_id", "label") if rows.column(column).null_count]
        if any(handle is None for handle in handles) or missing:
            raise InterestStoreError(f"{path}: {TABLE} has nulls in {', '.join(missing) or 'user_handle'}")
        user_index = rows.column("user_index").to_numpy().astype(np.int64)
        starts = np.searchsorted(user_index, np.arange(len(handles) + 1)).astype(np.int64)

        def encode(column: str) -> tuple[np.ndarray, list[str]]:
            encoded = pc.dictionary_encode(rows.column(column).combine_chunks())  # one array: one dictionary
            return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32), encoded.dictionary.to_pylist()

        interest_codes, interest_ids = encode("interest_id")
        label_codes, labels = encode("label")
        negated = -np.asarray(probability.to_numpy(), dtype=np.float64)
        versions = users.column("model_version").to_pylist()
        distinct_versions = sorted({v for value in versions if value for v in value.split(", ")})
        unservable = sum(not HANDLE_PATTERN.fullmatch(handle) for handle in handles)
        if unservable:
            log.warning(
                "%s: %d user handles do not match %s and cannot be requested", path, unservable, HANDLE_PATTERN.pattern
            )
        snapshot = cls(
            users={handle: i for i, handle in enumerate(handles)},
            handles=handles,
            names=users.column("name").to_pylist(),
            user_types=users.column("user_type").to_pylist(),
            cold_start=[bool(value) for value in users.column("cold_start").to_pylist()],
            model_versions=versions,
            starts=starts,
            interest_codes=interest_codes,
            label_codes=label_codes,
            negated_probabilities=negated,
            interest_ids=interest_ids,
            labels=labels,
            model_version=", ".join(distinct_versions) or None,
        )
        log.info(
            "loaded interest scores of %d users (%d rows) from %s in %.2fs",
            snapshot.size,
            snapshot.rows,
            path,
            time.perf_counter() - started,
        )
        return snapshot

    def lookup(self, handle: str, limit: int, min_probability: float) -> UserInterests | None:
        user = self.users.get(handle)
        if user is None and handle != handle.lower():
            user = self.users.get(handle.lower())  # UUIDs are case-insensitive; the data holds them lower-case
        if user is None:
            return None
        start, end = int(self.starts[user]), int(self.starts[user + 1])
        end = min(end, start + limit)
        if min_probability > 0:
            # rows are best first: those at or above the threshold are a prefix
            negated = self.negated_probabilities[start:end]
            end = start + int(np.searchsorted(negated, -min_probability, side="right"))
        ids, labels = self.interest_ids, self.labels
        return UserInterests(
            user_handle=self.handles[user],
            name=self.names[user],
            user_type=self.user_types[user],
            model_version=self.model_versions[user],
            cold_start=self.cold_start[user],
            interest_ids=[ids[code] for code in self.interest_codes[start:end].tolist()],
            labels=[labels[code] for code in self.label_codes[start:end].tolist()],
            probabilities=[-value for value in self.negated_probabilities[start:end].tolist()],
        )


def _read_snapshot(published_path: Path) -> InterestSnapshot:
    try:
        return InterestSnapshot.load(published_path)
    except InterestStoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken file is the store's error, not a crash
        raise InterestStoreError(f"cannot read {TABLE} from {published_path}: {exc}") from exc


class InterestStore(PublishedSnapshot[InterestSnapshot]):
    """The interest scores being served: one snapshot of the published copy, replaced when a new one is loaded.

    `load(path)` reads now and raises InterestStoreError; `refresh(path)` loads a newly published copy and never
    raises (the failure is kept in `error`, the old snapshot keeps serving, the same file is not retried). A
    copy without the table (InterestTableMissing) means nothing is published any more: the snapshot is dropped
    and lookups answer "not available"."""

    def __init__(self) -> None:
        super().__init__(_read_snapshot, "interest scores")

    @property
    def snapshot(self) -> InterestSnapshot | None:
        return self.current

    @property
    def size(self) -> int:
        """Users being served."""
        snapshot = self.current
        return snapshot.size if snapshot is not None else 0

    @property
    def model_version(self) -> str | None:
        snapshot = self.current
        return snapshot.model_version if snapshot is not None else None

    def lookup(self, handle: str, limit: int = DEFAULT_LIMIT, min_probability: float = 0.0) -> UserInterests | None:
        """The user's best `limit` interests with a probability >= `min_probability`, best first; None for an
        unknown user. Raises ValueError on bad arguments, InterestStoreError when nothing can be served."""
        validate_handle(handle)
        limit = validate_limit(limit)
        min_probability = validate_min_probability(min_probability)
        snapshot = self.snapshot  # one snapshot for the whole lookup, even if a reload swaps it meanwhile
        if snapshot is None:
            raise InterestStoreError(self.error or "no interest scores loaded yet")
        return snapshot.lookup(handle, limit, min_probability)
