"""Land raw score batches (`batch_<n>.json`) verbatim into `raw.score_batches`.

Every record is kept exactly as received: the score's JSON text and type (so `"error"` and `99999` survive),
the industry string untouched. Cleaning is dbt's job; this module only refuses files that are not a batch at all
(invalid JSON, wrong shape, missing or unexpected keys, duplicate ids, an empty list, a conflicting batch number).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from core.files import sha256_of
from landing.ledger import (
    FolderContents,
    LandedFiles,
    LandingUnit,
    landed,
    record_landing,
    record_stat,
    refuse_unstorable,
    transaction,
)
from warehouse.errors import LandingError

SOURCE = "score_batches"
BATCH_FILE = re.compile(r"batch_(\d+)\.json")
RECORD_KEYS = ("id", "score", "industry")

RAW_DDL = """
create table if not exists raw.score_batches (
    batch integer not null,           -- parsed numerically from the file name
    record_index integer not null,    -- position of the record in the file (0-based)
    id varchar,                       -- as received
    score varchar,                    -- JSON text as received: '0.471', '99999', 'error' (a string), NULL
    score_json_type varchar not null, -- number | string | null | boolean | object | array
    industry varchar,                 -- as received
    source_file varchar not null,
    content_hash varchar not null,
    loaded_at timestamp not null,
    primary key (batch, record_index)
);
"""


class _JsonNumber(str):
    """A JSON number kept as its literal text, so nothing is rounded on the way in."""


@dataclass(frozen=True)
class LandResult:
    batch: int
    source_file: str
    rows: int
    status: str  # "landed" | "already landed"


def batch_number(path: Path) -> int:
    match = BATCH_FILE.fullmatch(path.name)
    if not match:
        raise LandingError(f"{path}: not a score batch file name, expected batch_<n>.json")
    return int(match.group(1))


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, _JsonNumber):
        return "number"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):  # strings and number literals, verbatim
        return str(value)
    return json.dumps(value)


def parse_batch(path: Path, data: bytes) -> list[dict]:
    """Validate the file's shape and return its records; raise LandingError naming the file and the problem."""
    try:
        items = json.loads(
            data.decode("utf-8"), parse_float=_JsonNumber, parse_int=_JsonNumber, parse_constant=_JsonNumber
        )
    except UnicodeDecodeError as exc:
        raise LandingError(f"{path}: not UTF-8 text ({exc})") from None
    except json.JSONDecodeError as exc:
        raise LandingError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(items, list):
        raise LandingError(f"{path}: expected a JSON list of records, got a JSON {_json_type(items)}")
    if not items:
        raise LandingError(f"{path}: empty batch (no records)")
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise LandingError(f"{path}: record {index} is a JSON {_json_type(item)}, expected an object")
        missing = [key for key in RECORD_KEYS if key not in item]
        if missing:
            raise LandingError(f"{path}: record {index} has no {', '.join(map(repr, missing))}")
        unexpected = sorted(set(item) - set(RECORD_KEYS))
        if unexpected:
            raise LandingError(f"{path}: record {index} has unexpected key(s) {', '.join(map(repr, unexpected))}")
        for key in RECORD_KEYS:
            refuse_unstorable(item[key], f"{path}: record {index} {key!r}")
        record_id = _as_text(item["id"])
        if record_id is not None:
            if record_id in seen:
                raise LandingError(f"{path}: duplicate id {record_id!r} in records {seen[record_id]} and {index}")
            seen[record_id] = index
    return items


def land_score_batch(con: duckdb.DuckDBPyConnection, path: Path, landed_files: LandedFiles | None = None) -> LandResult:
    """Land one batch file in one transaction. Landing the same file again is a no-op; with `landed_files`, an
    unchanged landed file is known as landed without being read (what keeps a new batch's landing flat in history)."""
    path = Path(path)
    batch = batch_number(path)
    stat = path.stat()
    if landed_files is not None and landed_files.known(con, path, stat) == str(batch):
        return LandResult(batch, str(path), 0, "already landed")
    data = path.read_bytes()
    content_hash = sha256_of(data)
    items = parse_batch(path, data)
    with transaction(con, RAW_DDL):
        already = landed(con, SOURCE)
        if str(batch) in already:
            previous_hash, previous_file = already[str(batch)]
            if previous_hash == content_hash:
                # a ledger row without the file's stat (landed before the ledger kept it), or the same bytes
                # touched since: recorded now, so the next landing knows the file without reading it
                record_stat(con, SOURCE, str(batch), str(path), stat)
                return LandResult(batch, str(path), 0, "already landed")
            raise LandingError(
                f"{path}: batch {batch} was already landed from {previous_file} with different content; "
                "a batch is immutable once landed"
            )
        for key, (previous_hash, previous_file) in already.items():
            if previous_hash == content_hash:
                raise LandingError(f"{path}: same content as batch {key} (landed from {previous_file})")
        if already:
            expected = max(int(key) for key in already) + 1
            if batch != expected:
                raise LandingError(
                    f"{path}: batch {batch} is out of order; the next batch must be {expected} "
                    "(batches arrive in order and windows depend on it)"
                )
        table = pa.table(
            {
                "batch": pa.array([batch] * len(items), pa.int32()),
                "record_index": pa.array(range(len(items)), pa.int32()),
                "id": pa.array([_as_text(item["id"]) for item in items], pa.string()),
                "score": pa.array([_as_text(item["score"]) for item in items], pa.string()),
                "score_json_type": pa.array([_json_type(item["score"]) for item in items], pa.string()),
                "industry": pa.array([_as_text(item["industry"]) for item in items], pa.string()),
            }
        )
        con.register("incoming_batch", table)
        try:
            con.execute(
                """
                insert into raw.score_batches
                select batch, record_index, id, score, score_json_type, industry,
                       ?, ?, current_timestamp::timestamp
                from incoming_batch
                """,
                [str(path), content_hash],
            )
        finally:
            con.unregister("incoming_batch")
        record_landing(con, SOURCE, str(batch), str(path), content_hash, len(items), stat)
    return LandResult(batch, str(path), len(items), "landed")


def batch_files(directory: Path) -> list[Path]:
    """The well-named batch files of a folder (batch_<n>.json) in numeric batch order (batch_10 after batch_9)."""
    return sorted(
        (path for path in Path(directory).glob("batch_*.json") if BATCH_FILE.fullmatch(path.name)), key=batch_number
    )


def folder_contents(directory: Path) -> FolderContents:
    """The batch files of a folder in numeric batch order, then every `batch_*.json` whose name breaks the rule
    (refused: it looks like a batch, so it must not vanish); anything else is ignored, saying why."""
    directory = Path(directory)
    named = batch_files(directory)
    misnamed = sorted(set(directory.glob("batch_*.json")) - set(named))
    # a misnamed file is refused by land_score_batch's first check, batch_number
    landed_files = LandedFiles(SOURCE)  # the ledger read once for the whole folder
    units = [
        LandingUnit(str(path), lambda con, path=path: land_score_batch(con, path, landed_files))
        for path in [*named, *misnamed]
    ]
    ignored = [
        (path, "not a score batch file (batch_<n>.json)")
        for path in sorted(directory.iterdir())
        if not path.name.startswith("batch_") or not path.name.endswith(".json")
    ]
    return FolderContents(units, ignored)


def land_score_batches(con: duckdb.DuckDBPyConnection, directory: Path) -> list[LandResult]:
    """Land every batch file of a folder in order, one transaction each; stops at the first bad file (the land
    command, landing.land, goes on past it and reports every refusal)."""
    return [unit.land(con) for unit in folder_contents(directory).units]
