"""Land the user-interest sources of `DATA_DIR/interests/` into `raw.users`, `raw.interests` and
`raw.user_activity`: `users.csv` (`id,name,type`), optional `interests.csv` (`id,label`, the interest
catalogue) and optional `user_activity.csv` (the original export: `USER_HANDLE,USER_TYPE,
CONTENT_TITLES_JOINED,USER_INTERESTS`).

The folder is one unit: its files land together in one transaction, replacing the previous rows, and landing
identical files again changes nothing. This is the one reader of these files: a wrong header, a row with the
wrong number of fields, a duplicate key, or an activity row that contradicts the other files (unknown user,
another type than users.csv, USER_INTERESTS not a JSON array of catalogue ids) refuses the folder with an error
naming the file and the line, so everything downstream (staging, training) can trust what landed. Values are
kept as received (titles joined, interest ids as JSON text) and split or parsed by the staging models.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import yaml

from core.files import sha256_of
from core.settings import PROJECT_ROOT
from landing.ledger import FolderContents, LandingUnit, landed, record_landing, refuse_unstorable, transaction
from warehouse.errors import LandingError

SOURCE = "interests"
LANDING_KEY = "population"  # one folder is the whole user population: landing another replaces it
# How CONTENT_TITLES_JOINED joins titles. Defined once, as the dbt var the SQL that splits them uses
# (int_user_activity_titles); Python writers of the format (synthetic/interests.py) read it from there.
TITLE_SEPARATOR: str = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text())["vars"][
    "activity_title_separator"
]

RAW_DDL = """
create table if not exists raw.users (
    user_handle varchar not null,
    name varchar not null,
    user_type varchar not null,
    source_file varchar not null,
    loaded_at timestamp not null,
    primary key (user_handle)
);
create table if not exists raw.interests (
    interest_id varchar not null,
    label varchar not null,
    source_file varchar not null,
    loaded_at timestamp not null,
    primary key (interest_id)
);
create table if not exists raw.user_activity (
    user_handle varchar not null,
    user_type varchar not null,
    content_titles_joined varchar not null, -- titles as received, joined by TITLE_SEPARATOR
    user_interests varchar not null,        -- JSON array of interest ids, as received
    source_file varchar not null,
    loaded_at timestamp not null,
    primary key (user_handle)
);
"""

# file -> (raw table, expected header, raw columns in header order)
FILES = {
    "users.csv": ("users", ["id", "name", "type"], ["user_handle", "name", "user_type"]),
    "interests.csv": ("interests", ["id", "label"], ["interest_id", "label"]),
    "user_activity.csv": (
        "user_activity",
        ["USER_HANDLE", "USER_TYPE", "CONTENT_TITLES_JOINED", "USER_INTERESTS"],
        ["user_handle", "user_type", "content_titles_joined", "user_interests"],
    ),
}


@dataclass(frozen=True)
class InterestsLandResult:
    rows: dict[str, int]  # raw table -> rows landed
    status: str  # "landed" | "replaced" | "unchanged"


def parse_csv(path: Path, data: bytes, header: list[str]) -> list[tuple[int, list[str]]]:
    """(line, fields) per record, the key field stripped; a file-level problem refuses the file."""
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise LandingError(f"{path}: unreadable CSV ({exc})") from None
    if not rows or [c.strip() for c in rows[0]] != header:
        raise LandingError(f"{path}: expected the header '{','.join(header)}'")
    records, seen = [], set()
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise LandingError(f"{path}: line {line} has {len(row)} fields, expected {len(header)}")
        for column, value in zip(header, row):
            refuse_unstorable(value, f"{path}: line {line}: {column}")
        key = row[0].strip()
        if not key:
            raise LandingError(f"{path}: line {line}: empty {header[0]}")
        if key in seen:
            raise LandingError(f"{path}: line {line}: {header[0]} {key!r} appears twice")
        seen.add(key)
        records.append((line, [key, *row[1:]]))
    return records


def check_activity(
    path: Path, records: list[tuple[int, list[str]]], users: dict[str, str], interest_ids: set[str] | None
) -> None:
    """Every activity row names a user of users.csv with that user's type (compared as staging normalises types)
    and holds a JSON array of interest ids, each in the catalogue when interests.csv came with it."""
    for line, (handle, kind, _titles, interests_json) in records:
        where = f"{path}: line {line}"
        if handle not in users:
            raise LandingError(f"{where}: activity for unknown user {handle!r} (not in users.csv)")
        if kind.strip().upper() != users[handle].strip().upper():
            raise LandingError(f"{where}: USER_TYPE {kind!r} disagrees with users.csv type {users[handle]!r}")
        try:
            interests = json.loads(interests_json)
        except json.JSONDecodeError as exc:
            raise LandingError(
                f"{where}: USER_INTERESTS is not valid JSON ({exc.msg}): {interests_json[:80]!r}"
            ) from None
        if not isinstance(interests, list) or not all(isinstance(i, str) for i in interests):
            raise LandingError(f"{where}: USER_INTERESTS must be a JSON array of interest ids")
        unknown = [i for i in interests if interest_ids is not None and i not in interest_ids]
        if unknown:
            raise LandingError(f"{where}: unknown interest id {unknown[0]!r} (not in interests.csv)")


def folder_contents(folder: Path) -> FolderContents:
    """The folder is one unit; a file that is not one of FILES is ignored, saying why."""
    folder = Path(folder)
    ignored = [
        (path, f"not an interests file ({', '.join(FILES)})")
        for path in sorted(folder.iterdir())
        if path.name not in FILES
    ]
    return FolderContents([LandingUnit(str(folder), lambda con: land_interests(con, folder))], ignored)


def land_interests(con: duckdb.DuckDBPyConnection, folder: Path) -> InterestsLandResult:
    folder = Path(folder)
    if not (folder / "users.csv").is_file():
        raise LandingError(f"{folder}: no users.csv (the other interest files describe its users)")
    present = {name: folder / name for name in FILES if (folder / name).is_file()}
    contents = {name: path.read_bytes() for name, path in present.items()}
    parsed = {name: parse_csv(present[name], contents[name], FILES[name][1]) for name in present}
    if "user_activity.csv" in parsed:
        catalogue = {r[0] for _, r in parsed["interests.csv"]} if "interests.csv" in parsed else None
        check_activity(
            present["user_activity.csv"],
            parsed["user_activity.csv"],
            {r[0]: r[2] for _, r in parsed["users.csv"]},
            catalogue,
        )
    folder_hash = sha256_of(b":".join(f"{n}={sha256_of(contents[n])}".encode() for n in sorted(contents)))

    with transaction(con, RAW_DDL):
        previous = landed(con, SOURCE).get(LANDING_KEY)
        rows = {FILES[name][0]: len(records) for name, records in parsed.items()}
        if previous and previous[0] == folder_hash:
            return InterestsLandResult(rows, "unchanged")
        for table, _, _ in FILES.values():
            con.execute(f"delete from raw.{table}")
        for name, records in parsed.items():
            table, _, columns = FILES[name]
            incoming = pa.table(
                {col: pa.array([r[i] for _, r in records], pa.string()) for i, col in enumerate(columns)}
            )
            con.register("incoming_rows", incoming)
            try:
                con.execute(
                    f"insert into raw.{table} select *, ?, current_timestamp::timestamp from incoming_rows",
                    [str(present[name])],
                )
            finally:
                con.unregister("incoming_rows")
        record_landing(con, SOURCE, LANDING_KEY, str(present["users.csv"]), folder_hash, len(parsed["users.csv"]))
    return InterestsLandResult(rows, "replaced" if previous else "landed")
