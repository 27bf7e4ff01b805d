"""`python -m landing.land` skips nothing in silence and one bad file hides nothing: on a copy of the real data
with defects introduced, every file found ends landed, refused (one line on stderr naming it) or ignored (a line
on stdout saying why), the refused ones do not stop the other files and sources, and the command exits 1 at the
end, with each refused file's landing rolled back whole."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT
from landing.land import FilesRefused, land_all
from tests.support.data import REAL_DATA, REAL_DOCUMENT, REAL_SCORE_BATCHES, require_real, write_corpus_subset
from tests.support.warehouses import query
from warehouse import DuckDBWarehouse


def run_land(data_dir: Path, warehouse: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATA_DIR": str(data_dir), "DUCKDB_PATH": str(warehouse), "DBT_TARGET": "duckdb"}
    return subprocess.run(
        [sys.executable, "-m", "landing.land"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def landed_files(warehouse: Path) -> set[str]:
    """Every file some raw table holds rows of (raw.landed_files names one file per unit; the rows name each)."""
    tables = query(
        warehouse,
        "select table_name from information_schema.columns where table_schema = 'raw' and column_name = 'source_file'",
    )
    return {f for (table,) in tables for (f,) in query(warehouse, f"select distinct source_file from raw.{table}")}


@pytest.fixture
def defective_data(tmp_path: Path) -> Path:
    """The real batches 0-4 (batch 2 cut in half, a misnamed copy of batch 3), the real document plus a texts file
    whose id breaks the naming rule, a texts file without its pages and a pages file without its texts, the real
    users, a real corpus subset, and files that belong to no source."""
    data = tmp_path / "data"
    batches = data / "score_batches"
    batches.mkdir(parents=True)
    for n in range(5):
        shutil.copy(require_real(REAL_SCORE_BATCHES) / f"batch_{n}.json", batches)
    text = (batches / "batch_2.json").read_text()
    (batches / "batch_2.json").write_text(text[: len(text) // 2])
    shutil.copy(batches / "batch_3.json", batches / "batch_three.json")
    (batches / "notes.txt").write_text("batches arrive nightly\n")
    documents = data / "documents"
    documents.mkdir()
    texts, pages = (
        require_real(REAL_DATA / "documents") / name
        for name in (f"texts_{REAL_DOCUMENT}.json", f"pages_{REAL_DOCUMENT}.csv")
    )
    shutil.copy(texts, documents)
    shutil.copy(pages, documents)
    shutil.copy(texts, documents / "texts_bond memo.json")
    shutil.copy(texts, documents / "texts_777.json")
    shutil.copy(pages, documents / "pages_888.csv")
    shutil.copytree(require_real(REAL_DATA / "interests"), data / "interests")
    corpus = write_corpus_subset(data / "retrieval" / "msmarco-mini")
    (corpus / "README.md").write_text("a few judged queries\n")
    (data / "README.md").write_text("what this folder holds\n")
    return data


def test_every_file_found_is_landed_refused_or_ignored(defective_data: Path, tmp_path: Path):
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    result = run_land(defective_data, warehouse)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    refusals = result.stderr.splitlines()
    assert all(line.startswith("[land] error: ") for line in refusals), refusals
    ignored = [line for line in result.stdout.splitlines() if " ignored " in line]
    landed = landed_files(warehouse)

    batches, documents = defective_data / "score_batches", defective_data / "documents"
    expected_refusals = {
        batches / "batch_2.json": "invalid JSON",
        batches / "batch_3.json": "batch 3 is out of order; the next batch must be 2",
        batches / "batch_4.json": "batch 4 is out of order; the next batch must be 2",
        batches / "batch_three.json": "not a score batch file name",
        documents / "texts_bond memo.json": "invalid document id 'bond memo'",
        documents / "texts_777.json": f"missing: {documents / 'pages_777.csv'}",
        documents / "pages_888.csv": f"missing: {documents / 'texts_888.json'}",
    }
    assert len(refusals) == len(expected_refusals), refusals
    for path, reason in expected_refusals.items():
        assert any(reason in line for line in refusals if str(path) in line), (path, reason, refusals)
    expected_ignored = {
        defective_data / "README.md",
        batches / "notes.txt",
        defective_data / "retrieval" / "msmarco-mini" / "README.md",
    }

    for path in sorted(p for p in defective_data.rglob("*") if p.is_file()):
        outcomes = [str(path) in landed, path in expected_refusals, any(f" {path}: " in line for line in ignored)]
        assert sum(outcomes) == 1, (path, outcomes)
        assert outcomes[2] == (path in expected_ignored), path

    # the refused files changed nothing; the other files and the sources after them landed whole
    assert query(warehouse, "select batch, count(*) from raw.score_batches group by batch order by batch") == [
        (0, 400),
        (1, 400),
    ]
    assert query(warehouse, "select doc_id, count(*) from raw.document_texts group by doc_id") == [
        (REAL_DOCUMENT, 3519)
    ]
    assert query(warehouse, "select count(*) from raw.users") == [(20,)]
    assert query(warehouse, "select count(distinct corpus) from raw.corpus_passages") == [(1,)]
    assert (
        "[land] score_batches: 6 batch files, 2 newly landed (800 rows), 0 already landed, 4 refused" in result.stdout
    )
    assert "[land] documents: 4 documents: 1 landed, 0 replaced, 0 unchanged, 3 refused" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("[land] 7 refused")

    # once the defects are repaired, the next run lands exactly what was refused and exits 0
    shutil.copy(REAL_SCORE_BATCHES / "batch_2.json", batches)
    for name in ("batch_three.json", "notes.txt"):
        (batches / name).unlink()
    for name in ("texts_bond memo.json", "texts_777.json", "pages_888.csv"):
        (documents / name).unlink()
    rerun = run_land(defective_data, warehouse)
    assert (rerun.returncode, rerun.stderr) == (0, ""), rerun.stderr
    assert "[land] score_batches: 5 batch files, 3 newly landed (1200 rows), 2 already landed" in rerun.stdout
    assert query(warehouse, "select count(*), count(distinct batch) from raw.score_batches") == [(2000, 5)]


def test_land_all_lands_everything_else_then_raises(tmp_path: Path):
    data = tmp_path / "data"
    (data / "documents").mkdir(parents=True)
    shutil.copy(require_real(REAL_DATA / "documents") / f"texts_{REAL_DOCUMENT}.json", data / "documents")
    shutil.copytree(REAL_DATA / "interests", data / "interests")
    with pytest.raises(FilesRefused, match="1 refused"):
        land_all(data, DuckDBWarehouse(tmp_path / "warehouse.duckdb"))
    # the refused document (no pages file) came before interests: interests landed all the same
    assert query(tmp_path / "warehouse.duckdb", "select count(*) from raw.users") == [(20,)]
    assert query(tmp_path / "warehouse.duckdb", "select count(*) from raw.document_texts") == [(0,)]


def test_a_folder_named_like_a_batch_is_refused_not_a_traceback(tmp_path: Path):
    batches = tmp_path / "data" / "score_batches"
    batches.mkdir(parents=True)
    shutil.copy(REAL_SCORE_BATCHES / "batch_0.json", batches)
    (batches / "batch_1.json").mkdir()
    result = run_land(tmp_path / "data", tmp_path / "warehouse.duckdb")
    assert result.returncode == 1
    assert result.stderr == f"[land] error: {batches / 'batch_1.json'}: cannot be read (Is a directory)\n"
    assert query(tmp_path / "warehouse.duckdb", "select count(*) from raw.score_batches") == [(400,)]


@pytest.mark.parametrize(
    "number, reason",
    [("99999999999", "is above 2147483647"), ("١٢", "is not an integer")],
    ids=["beyond-integer", "arabic-indic-digits"],
)
def test_a_page_number_the_integer_column_cannot_hold_is_refused(tmp_path: Path, number: str, reason: str):
    documents = tmp_path / "data" / "documents"
    documents.mkdir(parents=True)
    shutil.copy(REAL_DATA / "documents" / f"texts_{REAL_DOCUMENT}.json", documents)
    lines = (REAL_DATA / "documents" / f"pages_{REAL_DOCUMENT}.csv").read_text().split("\n")
    lines[3] = lines[3].rsplit(",", 1)[0] + "," + number
    (documents / f"pages_{REAL_DOCUMENT}.csv").write_text("\n".join(lines))
    result = run_land(tmp_path / "data", tmp_path / "warehouse.duckdb")
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert f"pages_{REAL_DOCUMENT}.csv: line 4: page number" in result.stderr and reason in result.stderr
