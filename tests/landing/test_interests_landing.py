"""Landing the user-interest sources: the real users and the sample land whole; a malformed file, or an activity
row contradicting the other files, refuses the folder with an error naming the file and line, and leaves the
warehouse as it was (landing is the one reader of these files: training reads what landed)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT
from landing.interests import land_interests
from landing.land import main as land_main
from tests.support.data import REAL_DATA, require_real
from tests.support.warehouses import query, snapshot
from warehouse.duckdb_file import connect
from warehouse.errors import LandingError

SAMPLE = PROJECT_ROOT / "sample_data" / "interests"


def land(warehouse: Path, folder: Path):
    with connect(warehouse) as con:
        return land_interests(con, folder)


def test_real_users_land_without_activity(warehouse: Path):
    result = land(warehouse, require_real(REAL_DATA / "interests"))
    assert (result.rows, result.status) == ({"users": 20}, "landed")
    assert query(warehouse, "select user_type, count(*) from raw.users group by all order by 1") == [
        ("B2B", 11),
        ("B2C", 9),
    ]


def test_sample_lands_whole_and_relanding_changes_nothing(warehouse: Path):
    result = land(warehouse, SAMPLE)
    assert result.rows == {"users": 2000, "interests": 300, "user_activity": 1898} and result.status == "landed"
    assert query(warehouse, "select count(*) from raw.user_activity where user_interests like '[%]'") == [(1898,)]
    assert land(warehouse, SAMPLE).status == "unchanged"


def test_another_population_replaces_the_previous_one(warehouse: Path):
    land(warehouse, SAMPLE)
    result = land(warehouse, REAL_DATA / "interests")
    assert result.status == "replaced"
    assert query(warehouse, "select (select count(*) from raw.users), (select count(*) from raw.user_activity)") == [
        (20, 0)
    ]


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("users.csv", "id,name\nu1,Ann\n", r"users.csv: expected the header 'id,name,type'"),
        ("users.csv", "id,name,type\nu1,Ann\n", r"users.csv: line 2 has 2 fields, expected 3"),
        ("users.csv", "id,name,type\nu1,Ann,B2B\nu1,Bob,B2C\n", r"users.csv: line 3: id 'u1' appears twice"),
        ("interests.csv", "id,label\n,Chef\n", r"interests.csv: line 2: empty id"),
        ("user_activity.csv", "USER_HANDLE,TITLES\nu1,x\n", r"user_activity.csv: expected the header"),
    ],
)
def test_malformed_files_are_refused_and_nothing_changes(warehouse: Path, tmp_path: Path, file, content, message):
    land(warehouse, REAL_DATA / "interests")
    before = snapshot(warehouse)
    folder = tmp_path / "interests"
    shutil.copytree(SAMPLE, folder)
    (folder / file).write_text(content)
    with pytest.raises(LandingError, match=message):
        land(warehouse, folder)
    assert snapshot(warehouse) == before


def test_a_folder_without_users_is_refused(warehouse: Path, tmp_path: Path):
    (tmp_path / "interests").mkdir()
    with pytest.raises(LandingError, match="no users.csv"):
        land(warehouse, tmp_path / "interests")


def write_activity(folder: Path, bad_row: list[str]) -> Path:
    """The sample's users and interests, an activity file of one good row then bad_row (line 3)."""
    shutil.copytree(SAMPLE, folder)
    with (SAMPLE / "user_activity.csv").open(newline="", encoding="utf-8") as handle:
        header, good = list(csv.reader(handle))[:2]
    with (folder / "user_activity.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, good, bad_row])
    return folder


def sample_user_and_interest() -> tuple[str, str, str]:
    with (SAMPLE / "user_activity.csv").open(newline="", encoding="utf-8") as handle:
        row = list(csv.DictReader(handle))[1]
    return row["USER_HANDLE"], row["USER_TYPE"], json.loads(row["USER_INTERESTS"])[0]


@pytest.mark.parametrize(
    "case, message",
    [
        ("bad json", "USER_INTERESTS is not valid JSON"),
        ("not a list", "USER_INTERESTS must be a JSON array of interest ids"),
        ("unknown interest", "unknown interest id 'not-an-interest'"),
        ("unknown user", "activity for unknown user 'no-such-user'"),
        ("another type", "disagrees with users.csv type"),
        ("missing column", "has 3 fields, expected 4"),
    ],
)
def test_malformed_activity_row_names_file_and_line(
    monkeypatch, warehouse: Path, tmp_path: Path, capsys, case, message
):
    handle, kind, interest = sample_user_and_interest()
    row = {
        "bad json": [handle, kind, "A title | Another", f'["{interest}",'],
        "not a list": [handle, kind, "A title", f'{{"id": "{interest}"}}'],
        "unknown interest": [handle, kind, "A title", '["not-an-interest"]'],
        "unknown user": ["no-such-user", kind, "A title", f'["{interest}"]'],
        "another type": [handle, {"B2B": "B2C", "B2C": "B2B"}[kind], "A title", f'["{interest}"]'],
        "missing column": [handle, kind, "A title"],
    }[case]
    folder = write_activity(tmp_path / "data" / "interests", row)
    land(warehouse, REAL_DATA / "interests")
    before = snapshot(warehouse)
    with pytest.raises(LandingError, match=message) as caught:
        land(warehouse, folder)
    assert "user_activity.csv: line 3" in str(caught.value)
    assert snapshot(warehouse) == before
    # the CLI turns it into exit 1 and the same message (having created the other sources' empty raw tables)
    monkeypatch.setenv("DUCKDB_PATH", str(warehouse))
    assert land_main(["--data-dir", str(tmp_path / "data")]) == 1
    assert "user_activity.csv: line 3" in capsys.readouterr().err
    assert {table: rows for table, rows in snapshot(warehouse).items() if table in before} == before


def test_activity_types_compare_as_staging_normalises_them(warehouse: Path, tmp_path: Path):
    handle, kind, interest = sample_user_and_interest()
    folder = write_activity(tmp_path / "interests", [handle, f" {kind.lower()} ", "A title", f'["{interest}"]'])
    assert land(warehouse, folder).rows["user_activity"] == 2
