"""The Great Expectations checkpoint: committed suites are what the code generates, the sample passes with
data docs built, and a broken warehouse fails it with a message naming the expectation and the table."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from core.settings import PROJECT_ROOT
from landing.land import land_all
from quality.checkpoint import GX_DIR
from quality.expectations import SUITES, suite_text
from tests.support.quality import gx_project, run_checkpoint
from tests.support.warehouses import Dbt
from warehouse import DuckDBWarehouse

SAMPLE = PROJECT_ROOT / "sample_data"
SUITE_NAMES = [make()["name"] for make in SUITES]


def test_committed_suites_are_what_the_code_generates():
    committed = sorted(p.stem for p in (GX_DIR / "expectations").glob("*.json"))
    assert committed == sorted(SUITE_NAMES), "run `python -m quality.checkpoint --write-suites`"
    for make in SUITES:
        definition = make()
        path = GX_DIR / "expectations" / f"{definition['name']}.json"
        assert path.read_text() == suite_text(definition), f"{path} is stale: run --write-suites"


def test_only_the_share_of_rejects_is_not_critical():
    warnings = [
        (make()["name"], e["type"]) for make in SUITES for e in make()["expectations"] if e["severity"] != "critical"
    ]
    assert warnings == [("raw_score_batches", "expect_column_mean_to_be_between")]


@pytest.fixture(scope="module")
def sample_warehouse(tmp_path_factory) -> Path:
    """The score batches and the sample document, landed and built (the build embeds ~45 chunks)."""
    folder = tmp_path_factory.mktemp("gx_sample")
    data_dir = folder / "data"
    for source in ("score_batches", "documents"):
        shutil.copytree(SAMPLE / source, data_dir / source)
    warehouse = DuckDBWarehouse(folder / "warehouse.duckdb")
    land_all(data_dir, warehouse)
    Dbt(warehouse, folder / "target")("build")
    return warehouse.path


def broken_copy(duckdb_path: Path, folder: Path, *statements: str) -> Path:
    broken = folder / duckdb_path.name  # same file name: dbt's views refer to the catalog by it
    broken.write_bytes(duckdb_path.read_bytes())
    con = duckdb.connect(str(broken))
    for statement in statements:
        con.execute(statement)
    con.close()
    return broken


def test_sample_passes_and_data_docs_name_every_suite(sample_warehouse, tmp_path: Path):
    gx_dir = gx_project(tmp_path)
    result = run_checkpoint(sample_warehouse, gx_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    validated = [name for name in SUITE_NAMES if name != "user_interest_scores"]  # no interests landed
    for name in validated:
        assert f"PASS {name} " in result.stdout
    assert "user_interest_scores: skipped, table user_interest_scores is empty" in result.stdout
    index = gx_dir / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert f"data docs: {index}" in result.stdout
    html = index.read_text()
    for name in validated:
        assert name in html
    # the committed configuration is read, never rewritten, by a run
    assert (gx_dir / "great_expectations.yml").read_text() == (GX_DIR / "great_expectations.yml").read_text()
    for name in SUITE_NAMES:  # GX re-saves the suites it validates: byte for byte what is committed
        relative = Path("expectations") / f"{name}.json"
        assert (gx_dir / relative).read_text() == (GX_DIR / relative).read_text()


@pytest.mark.parametrize(
    ("corruption", "table", "column", "observed"),
    [
        (
            ["update scores set percentile = 101 where id = (select min(id) from scores)"],
            "scores",
            "percentile",
            "[101.0]",
        ),
        (
            # FLOAT[384] cannot hold a shorter vector: the table is recreated with FLOAT[] and one vector cut to 383
            [
                "create or replace table document_chunks as select * replace (case "
                "when chunk_id = (select min(chunk_id) from document_chunks) "
                "then list_slice(embedding::float[], 1, 383) "
                "else embedding::float[] end as embedding) from document_chunks"
            ],
            "document_chunks",
            "embedding_length",
            "[383]",
        ),
    ],
    ids=["percentile_above_100", "vector_of_383"],
)
def test_broken_warehouse_fails_naming_expectation_and_table(
    sample_warehouse, tmp_path: Path, corruption, table, column, observed
):
    broken = broken_copy(sample_warehouse, tmp_path, *corruption)
    result = run_checkpoint(broken, gx_project(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"FAIL {table} " in result.stdout
    message = result.stderr
    assert "checkpoint failed: 1 critical expectation(s) failed" in message
    assert (
        f"table {table}: expect_column_values_to_be_between on column {column} failed (critical): "
        f"observed 1 unexpected of" in message
    )
    assert observed in message


def test_reject_share_is_a_warning_and_a_missing_table_is_skipped(sample_warehouse, tmp_path: Path):
    broken = broken_copy(
        sample_warehouse,
        tmp_path,
        # ~30% of the raw records now count as rejected
        "insert into score_rejects select id, batch, record_index, score, score_json_type, industry, 'test', null, "
        "source_file, loaded_at from raw.score_batches where record_index between 10 and 130",
        "drop table document_chunks cascade",
    )
    result = run_checkpoint(broken, gx_project(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARN raw_score_batches " in result.stdout
    assert "WARNING table raw.score_batches: expect_column_mean_to_be_between on column is_rejected" in result.stdout
    assert "document_chunks: skipped, table document_chunks does not exist" in result.stdout
    assert "checkpoint passed" in result.stdout


@pytest.mark.parametrize(("embedding_model", "passes"), [("hashing:8", True), ("", False)])
def test_vector_length_is_the_configured_models_dimension(tmp_path: Path, embedding_model: str, passes: bool):
    """Eight-dimensional vectors pass when EMBEDDING_MODEL is an 8-d model, and fail against the packaged 384-d one."""
    duckdb_path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(duckdb_path))
    con.execute(
        "create table document_chunks as select '10001' as doc_id, 'c' || i as chunk_id, i as chunk_index, "
        "i as source_position, 5 as token_count, md5(i::varchar) as content_hash, 'hashing-8' as model_id, "
        "['page-ref'] as pages, [1.0, 0, 0, 0, 0, 0, 0, 0]::float[8] as embedding from range(3) t(i)"
    )
    con.close()
    result = run_checkpoint(duckdb_path, gx_project(tmp_path), embedding_model)
    if passes:
        assert result.returncode == 0, result.stdout + result.stderr
        assert "PASS document_chunks (document_chunks, 3 rows)" in result.stdout
    else:
        assert result.returncode == 1, result.stdout + result.stderr
        assert (
            "table document_chunks: expect_column_values_to_be_between on column embedding_length failed "
            "(critical): observed 3 unexpected of 3 rows" in result.stderr
        )
