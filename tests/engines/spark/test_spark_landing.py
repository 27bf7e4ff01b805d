"""Landing on DBT_TARGET=spark (warehouse.spark): the project's loaders write the landing ledger, and every
landed unit reaches Spark as one Parquet file renamed into place. Whole files only, nothing twice, nothing lost
when a process dies between the ledger's commit and the mirror. No JVM here: Spark reads exactly these files
(tests/engines/spark/test_spark_target.py runs it on them)."""

from __future__ import annotations

import json
import shutil

import pytest

from landing.documents import land_document
from landing.land import ensure_raw_tables, land_all
from landing.score_batches import land_score_batches
from tests.support.data import REAL_DATA, REAL_DOCUMENT, REAL_SCORE_BATCHES, require_real
from warehouse.duckdb_file import connect
from warehouse.spark import SparkEngineError, SparkWarehouse, mirror_raw, open_reader


def unit_files(warehouse: SparkWarehouse, table: str) -> list[str]:
    return sorted(p.name for p in (warehouse.raw_dir / table).iterdir())


def mirrored_rows(warehouse: SparkWarehouse, table: str) -> list[tuple]:
    with open_reader(warehouse) as con:
        return sorted(con.execute(f"select * exclude (loaded_at) from raw.{table}").fetchall(), key=repr)


def ledger_rows(warehouse: SparkWarehouse, table: str) -> list[tuple]:
    with connect(warehouse.ledger, read_only=True) as con:
        return sorted(con.execute(f"select * exclude (loaded_at) from raw.{table}").fetchall(), key=repr)


@pytest.fixture
def batches(tmp_path):
    require_real(REAL_SCORE_BATCHES)
    folder = tmp_path / "score_batches"
    folder.mkdir()
    for n in range(5):
        shutil.copy(REAL_SCORE_BATCHES / f"batch_{n}.json", folder)
    return folder


def test_each_batch_lands_as_one_parquet_file(batches, tmp_path):
    warehouse = SparkWarehouse(tmp_path / "spark")
    land_all(batches.parent, warehouse)
    assert unit_files(warehouse, "score_batches") == [
        "_mirrored.json",
        *(f"key={n}.parquet" for n in range(5)),
        "schema.parquet",
    ]
    assert mirrored_rows(warehouse, "score_batches") == ledger_rows(warehouse, "score_batches")
    assert len(mirrored_rows(warehouse, "score_batches")) == 2000
    assert mirrored_rows(warehouse, "landed_files") == ledger_rows(warehouse, "landed_files")
    # every raw table exists for Spark, empty ones too (their zero-row schema file)
    assert sorted(p.name for p in warehouse.raw_dir.iterdir()) == [
        "corpus_passages",
        "corpus_qrels",
        "corpus_queries",
        "document_pages",
        "document_texts",
        "interests",
        "landed_files",
        "score_batches",
        "user_activity",
        "users",
    ]
    assert mirrored_rows(warehouse, "users") == []


def test_landing_again_rewrites_nothing(batches, tmp_path):
    warehouse = SparkWarehouse(tmp_path / "spark")
    land_all(batches.parent, warehouse)
    before = {p: p.stat().st_mtime_ns for p in warehouse.raw_dir.rglob("*.parquet")}
    land_all(batches.parent, warehouse)
    assert {p: p.stat().st_mtime_ns for p in warehouse.raw_dir.rglob("*.parquet")} == before


def test_units_committed_but_never_mirrored_reach_spark_at_the_next_landing(batches, tmp_path):
    """A process killed after the ledger's commit and before its mirror: Spark sees none of those files (never
    a part of one), and the next landing, even of nothing new, writes them."""
    warehouse = SparkWarehouse(tmp_path / "spark")
    land_all(batches.parent, warehouse)
    for n in (5, 6):
        shutil.copy(REAL_SCORE_BATCHES / f"batch_{n}.json", batches)
    with connect(warehouse.ledger) as con:  # the loaders' commit, without the mirror that follows it
        land_score_batches(con, batches)
    assert "key=5.parquet" not in unit_files(warehouse, "score_batches")
    assert len(mirrored_rows(warehouse, "score_batches")) == 2000
    with warehouse.open():  # any landing connection: mirrors on opening
        pass
    assert {"key=5.parquet", "key=6.parquet"} <= set(unit_files(warehouse, "score_batches"))
    assert mirrored_rows(warehouse, "score_batches") == ledger_rows(warehouse, "score_batches")
    assert len(mirrored_rows(warehouse, "score_batches")) == 2800


def test_a_file_killed_mid_write_is_never_read_and_is_written_again(batches, tmp_path):
    """The mirror writes under a hidden name (Spark, like this reader, skips names starting with '.' or '_') and
    renames; a write killed mid-way leaves only a hidden part file, and a manifest entry lost with it means the
    file is simply written again."""
    warehouse = SparkWarehouse(tmp_path / "spark")
    land_all(batches.parent, warehouse)
    folder = warehouse.raw_dir / "score_batches"
    (folder / "key=4.parquet").rename(folder / ".key=4.parquet.writing")  # as if killed before the rename
    (folder / ".key=4.parquet.writing").write_bytes(b"PAR1 half a file")
    manifest = json.loads((folder / "_mirrored.json").read_text())
    del manifest["key=4.parquet"]
    (folder / "_mirrored.json").write_text(json.dumps(manifest))
    assert len(mirrored_rows(warehouse, "score_batches")) == 1600  # the part file is not read
    land_all(batches.parent, warehouse)
    assert mirrored_rows(warehouse, "score_batches") == ledger_rows(warehouse, "score_batches")


def test_a_replaced_document_is_swapped_whole(tmp_path):
    documents = require_real(REAL_DATA / "documents")
    folder = tmp_path / "documents"
    folder.mkdir()
    for name in (f"texts_{REAL_DOCUMENT}.json", f"pages_{REAL_DOCUMENT}.csv"):
        shutil.copy(documents / name, folder)
    warehouse = SparkWarehouse(tmp_path / "spark")
    land_all(tmp_path, warehouse)
    texts = json.loads((folder / f"texts_{REAL_DOCUMENT}.json").read_text())
    (folder / f"texts_{REAL_DOCUMENT}.json").write_text(json.dumps(texts[:10]))  # a new version of the document
    with warehouse.open() as con:
        ensure_raw_tables(con)
        assert land_document(con, folder, REAL_DOCUMENT).status == "replaced"
    assert unit_files(warehouse, "document_texts") == [
        "_mirrored.json",
        f"key={REAL_DOCUMENT}.parquet",
        "schema.parquet",
    ]
    assert len(mirrored_rows(warehouse, "document_texts")) == 10
    assert mirrored_rows(warehouse, "document_texts") == ledger_rows(warehouse, "document_texts")


def test_a_raw_table_without_a_spark_layout_is_refused(tmp_path):
    """A new loader's table must say how it is cut into units: never skipped silently."""
    warehouse = SparkWarehouse(tmp_path / "spark")
    with connect(warehouse.ledger) as con:
        ensure_raw_tables(con)
        con.execute("create table raw.new_source (x integer)")
        with pytest.raises(SparkEngineError, match="raw tables new_source have no Parquet layout"):
            mirror_raw(con, warehouse.raw_dir)
