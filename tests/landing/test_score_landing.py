"""Landing raw score batches: verbatim, idempotent, ordered, and all-or-nothing on bad files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from landing.land import ensure_raw_tables
from landing.land import main as land_main
from landing.score_batches import batch_files, land_score_batch, land_score_batches
from tests.support.data import REAL_SCORE_BATCHES, require_real
from tests.support.warehouses import query, snapshot
from warehouse import DuckDBWarehouse
from warehouse.duckdb_file import connect
from warehouse.errors import LandingError

GOOD = {"id": "01GH6QHVN37Q57K67PQRH2T4X8", "score": 0.471, "industry": "clothing"}


def write(folder: Path, name: str, content: object | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def land(warehouse: DuckDBWarehouse, path: Path):
    with warehouse.open() as con:
        return land_score_batch(con, path)


@pytest.fixture
def two_batches(tmp_path: Path, warehouse: Path) -> Path:
    """A warehouse holding real batches 0 and 1."""
    folder = tmp_path / "score_batches"
    folder.mkdir()
    for n in (0, 1):
        shutil.copy(require_real(REAL_SCORE_BATCHES) / f"batch_{n}.json", folder)
    with connect(warehouse) as con:
        land_score_batches(con, folder)
    return folder


def test_real_batches_land_verbatim_in_numeric_order(warehouse: Path):
    files = batch_files(require_real(REAL_SCORE_BATCHES))
    assert [f.name for f in files[9:12]] == ["batch_9.json", "batch_10.json", "batch_11.json"]
    with connect(warehouse) as con:
        results = land_score_batches(con, REAL_SCORE_BATCHES)
    assert [r.batch for r in results] == list(range(20))
    assert query(warehouse, "select count(*), count(distinct batch) from raw.score_batches") == [(8000, 20)]
    # the dirt survives landing exactly as received
    assert query(
        warehouse, "select count(*) from raw.score_batches where score = 'error' and score_json_type = 'string'"
    ) == [(82,)]
    assert query(
        warehouse, "select count(*) from raw.score_batches where score = '99999' and score_json_type = 'number'"
    ) == [(81,)]
    first = json.loads((REAL_SCORE_BATCHES / "batch_10.json").read_text())[0]
    row = query(
        warehouse,
        "select id, score, industry, source_file, length(content_hash) from raw.score_batches "
        "where batch = 10 and record_index = 0",
    )
    assert row == [
        (first["id"], repr(first["score"]), first["industry"], str(REAL_SCORE_BATCHES / "batch_10.json"), 64)
    ]
    assert query(warehouse, "select count(*), sum(row_count) from raw.landed_files where source = 'score_batches'") == [
        (20, 8000)
    ]


def test_landing_the_same_file_again_adds_nothing(two_batches: Path, warehouse: Path):
    before = snapshot(warehouse)
    result = land(warehouse, two_batches / "batch_1.json")
    assert (result.status, result.rows) == ("already landed", 0)
    assert snapshot(warehouse) == before


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("batch_2.json", '[{"id": "01GH6QHVN37Q57K67PQRH2T4X8", "score": 0.4,', "invalid JSON at line 1"),
        ("batch_2.json", "", "invalid JSON"),
        (
            "batch_2.json",
            {"id": "x", "score": 1, "industry": "food"},
            "expected a JSON list of records, got a JSON object",
        ),
        ("batch_2.json", [GOOD, "not a record"], "record 1 is a JSON string, expected an object"),
        ("batch_2.json", [GOOD, {"id": "01GH6QHVN37Q57K67PQRH2T4X9", "industry": "food"}], "record 1 has no 'score'"),
        ("batch_2.json", [{**GOOD, "extra": 1}], "record 0 has unexpected key(s) 'extra'"),
        (
            "batch_2.json",
            [GOOD, {**GOOD, "score": 0.1}],
            "duplicate id '01GH6QHVN37Q57K67PQRH2T4X8' in records 0 and 1",
        ),
        ("batch_2.json", [], "empty batch"),
        (
            "batch_2.json",
            [GOOD, {**GOOD, "id": "01GH6QHVN37Q57K67PQRH2T4X9", "industry": "fo\u0000od"}],
            "record 1 'industry' contains a NUL character (U+0000)",
        ),
        (
            "batch_2.json",
            '[{"id": "\\ud800", "score": 1, "industry": "food"}]',
            "record 0 'id' contains a lone surrogate",
        ),
        ("batch_1.json", [GOOD], "batch 1 was already landed from"),
        ("batch_4.json", [GOOD], "batch 4 is out of order; the next batch must be 2"),
        ("batch_two.json", [GOOD], "not a score batch file name"),
    ],
    ids=[
        "truncated-json",
        "empty-file",
        "not-a-list",
        "not-an-object",
        "missing-key",
        "unexpected-key",
        "duplicate-id",
        "empty-batch",
        "nul-character",
        "lone-surrogate",
        "conflicting-batch-number",
        "out-of-order",
        "bad-file-name",
    ],
)
def test_bad_file_is_refused_with_a_clear_error_and_an_unchanged_warehouse(
    two_batches: Path, warehouse: Path, tmp_path: Path, name: str, content: object, message: str
):
    path = write(tmp_path / "incoming", name, content)
    before = snapshot(warehouse)
    with pytest.raises(LandingError) as error:
        land(warehouse, path)
    assert str(path) in str(error.value)
    assert message in str(error.value)
    assert snapshot(warehouse) == before


def test_same_content_under_another_batch_number_is_refused(two_batches: Path, warehouse: Path, tmp_path: Path):
    copy = tmp_path / "incoming" / "batch_2.json"
    copy.parent.mkdir()
    shutil.copy(two_batches / "batch_1.json", copy)
    before = snapshot(warehouse)
    with pytest.raises(LandingError, match="same content as batch 1"):
        land(warehouse, copy)
    assert snapshot(warehouse) == before


def test_a_failed_first_landing_leaves_a_fresh_warehouse_empty(tmp_path: Path, warehouse: Path):
    path = write(tmp_path, "batch_0.json", "not json")
    with pytest.raises(LandingError):
        land(warehouse, path)
    assert snapshot(warehouse) == {}


def test_folder_landing_stops_at_the_first_bad_file_keeping_the_good_ones(tmp_path: Path, warehouse: Path):
    folder = tmp_path / "score_batches"
    write(folder, "batch_0.json", [GOOD])
    write(folder, "batch_1.json", [{**GOOD, "id": "01GH6QHVN37Q57K67PQRH2T4X9"}])
    write(folder, "batch_2.json", "[")
    with connect(warehouse) as con, pytest.raises(LandingError, match="batch_2.json: invalid JSON"):
        land_score_batches(con, folder)
    assert query(warehouse, "select batch from raw.score_batches order by batch") == [(0,), (1,)]


def test_non_standard_values_are_kept_as_text_with_their_json_type(tmp_path: Path, warehouse: Path):
    records = [
        {"id": "01GH6QHVN37Q57K67PQRH2T4X1", "score": None, "industry": "food"},
        {"id": "01GH6QHVN37Q57K67PQRH2T4X2", "score": True, "industry": " Food "},
        {"id": "01GH6QHVN37Q57K67PQRH2T4X3", "score": "0.25", "industry": None},
        {"id": 12345, "score": 1e-7, "industry": "cars"},
    ]
    land(warehouse, write(tmp_path, "batch_0.json", json.dumps(records).replace("1e-07", "1.0E-7")))
    rows = query(warehouse, "select id, score, score_json_type, industry from raw.score_batches order by record_index")
    assert rows == [
        ("01GH6QHVN37Q57K67PQRH2T4X1", None, "null", "food"),
        ("01GH6QHVN37Q57K67PQRH2T4X2", "true", "boolean", " Food "),
        ("01GH6QHVN37Q57K67PQRH2T4X3", "0.25", "string", None),
        ("12345", "1.0E-7", "number", "cars"),
    ]


def test_land_command_skips_missing_source_folders(monkeypatch, tmp_path: Path, warehouse: Path, capsys):
    data_dir = tmp_path / "data"
    write(data_dir / "score_batches", "batch_0.json", [GOOD])
    monkeypatch.setenv("DUCKDB_PATH", str(warehouse))
    assert land_main(["--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "score_batches: 1 batch files, 1 newly landed (1 rows)" in out
    (data_dir / "score_batches" / "batch_0.json").unlink()
    (data_dir / "score_batches").rmdir()
    assert land_main(["--data-dir", str(data_dir)]) == 0
    assert f"score_batches: skipped, {data_dir / 'score_batches'} does not exist" in capsys.readouterr().out
    assert land_main(["--data-dir", str(tmp_path / "nowhere")]) == 1
    assert "is not a folder" in capsys.readouterr().err


def test_land_command_reports_a_bad_file_and_fails(monkeypatch, tmp_path: Path, warehouse: Path, capsys):
    write(tmp_path / "data" / "score_batches", "batch_0.json", "{")
    monkeypatch.setenv("DUCKDB_PATH", str(warehouse))
    assert land_main(["--data-dir", str(tmp_path / "data")]) == 1
    assert "batch_0.json: invalid JSON" in capsys.readouterr().err


def real_batches_landed(tmp_path: Path, warehouse: DuckDBWarehouse) -> Path:
    """A folder holding the real batches 0 and 1, both landed: the folder."""
    folder = tmp_path / "score_batches"
    folder.mkdir()
    for n in (0, 1):
        shutil.copy(REAL_SCORE_BATCHES / f"batch_{n}.json", folder)
    with warehouse.open() as con:
        ensure_raw_tables(con)
        assert [r.status for r in land_score_batches(con, folder)] == ["landed", "landed"]
    return folder


def file_reads(monkeypatch) -> list[str]:
    """The names of the files read (Path.read_bytes) from now on, in order."""
    read_bytes, reads = Path.read_bytes, []
    monkeypatch.setattr(Path, "read_bytes", lambda path: reads.append(path.name) or read_bytes(path))
    return reads


def test_a_landed_file_left_as_it_was_is_not_read_again_and_a_changed_one_is_caught(
    tmp_path: Path, warehouse: DuckDBWarehouse, monkeypatch
):
    """What keeps a new batch's landing flat in history: the ledger keeps each landed file's size and modification
    time, and landing the folder again reads only the files whose stat changed (a real batch's bytes, rewritten
    with other content of the same length, are read and refused)."""
    folder = real_batches_landed(tmp_path, warehouse)
    reads = file_reads(monkeypatch)
    shutil.copy(REAL_SCORE_BATCHES / "batch_2.json", folder)
    with warehouse.open() as con:
        statuses = [r.status for r in land_score_batches(con, folder)]
    assert statuses == ["already landed", "already landed", "landed"] and reads == ["batch_2.json"]

    original = (folder / "batch_1.json").read_bytes()
    (folder / "batch_1.json").write_bytes(original.replace(b'"cars"', b'"CARS"', 1))  # same length, new mtime
    assert len((folder / "batch_1.json").read_bytes()) == len(original)
    reads.clear()
    with warehouse.open() as con, pytest.raises(LandingError, match="batch 1 was already landed .* different content"):
        land_score_batches(con, folder)
    assert reads == ["batch_1.json"]


def test_a_ledger_without_file_stats_learns_them_on_the_next_landing(
    tmp_path: Path, warehouse: DuckDBWarehouse, monkeypatch
):
    """A warehouse landed before the ledger kept file stats reads its files once more, records their stats, and
    from then on knows them unread."""
    folder = real_batches_landed(tmp_path, warehouse)
    with warehouse.open() as con:
        con.execute("update raw.landed_files set file_size = null, file_mtime_ns = null")  # as an older ledger
    reads = file_reads(monkeypatch)
    for expected_reads in (["batch_0.json", "batch_1.json"], []):
        reads.clear()
        with warehouse.open() as con:
            assert [r.status for r in land_score_batches(con, folder)] == ["already landed", "already landed"]
        assert reads == expected_reads
