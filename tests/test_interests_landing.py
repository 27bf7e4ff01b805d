"""Landing the user-interest sources: the real users and the sample land whole; a malformed file refuses the
folder with an error naming the file and line, and leaves the warehouse as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingestion.interests import land_interests
from ingestion.settings import PROJECT_ROOT
from ingestion.warehouse import LandingError, connect
from tests.conftest import REAL_DATA, query, require_real
from tests.test_score_landing import snapshot

SAMPLE = PROJECT_ROOT / "sample_data" / "interests"


def land(warehouse: Path, folder: Path):
    with connect(warehouse) as con:
        return land_interests(con, folder)


def test_real_users_land_without_activity(warehouse: Path):
    result = land(warehouse, require_real(REAL_DATA / "interests"))
    assert (result.rows, result.status) == ({"users": 20}, "landed")
    assert query(warehouse, "select user_type, count(*) from raw.users group by all order by 1") == [("B2B", 11), ("B2C", 9)]


def test_sample_lands_whole_and_relanding_changes_nothing(warehouse: Path):
    result = land(warehouse, SAMPLE)
    assert result.rows == {"users": 2000, "interests": 300, "user_activity": 1898} and result.status == "landed"
    assert query(warehouse, "select count(*) from raw.user_activity where user_interests like '[%]'") == [(1898,)]
    assert land(warehouse, SAMPLE).status == "unchanged"


def test_another_population_replaces_the_previous_one(warehouse: Path):
    land(warehouse, SAMPLE)
    result = land(warehouse, REAL_DATA / "interests")
    assert result.status == "replaced"
    assert query(warehouse, "select (select count(*) from raw.users), (select count(*) from raw.user_activity)") == [(20, 0)]


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
