"""DBT_TARGET=spark proves itself as Postgres does: `make run` then `make export` on a local Spark session over
the 20 real batches and the real document 12345, and the marts, exports and document rejects equal DuckDB's
(floats within 1e-9, vectors of cosine >= 0.9999, everything else exact); the orchestrator's graph on Spark is
DuckDB's.

Everything lives under the module's own SPARK_DIR (warehouse, metastore, landing ledger): never the developer's.
"""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from orchestration.definitions import build_definitions
from pipeline.dbt_runner import run_dbt
from tests.support.orchestration import graph_shape, orchestrator_env
from tests.support.score_marts import EXPORTS, MARTS, assert_exports_match, assert_marts_match
from tests.support.warehouses import make, make_run_and_export
from warehouse.spark import SparkWarehouse

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(duckdb_reference_run, tmp_path_factory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("spark_target")
    warehouse = SparkWarehouse(folder / "spark")
    run = make_run_and_export(folder, duckdb_reference_run["data"], "spark", warehouse.dbt_env())
    return {"duckdb": duckdb_reference_run, "spark": {**run, "warehouse": warehouse}}


def test_make_run_on_spark_runs_every_step(runs):
    log = runs["spark"]["log"]
    assert "DBT_TARGET=spark" in log
    assert "[spark_dbt] python phase: int_text_embeddings" in log  # the Python models ran, between SQL phases
    assert "3596 chunks to encode, 0 already encoded" in log
    assert "encoded 3596 texts on the executors" in log
    assert "[quality] checkpoint passed" in log
    metastore = runs["spark"]["warehouse"].directory / "metastore"  # under SPARK_DIR, not the working directory
    assert (metastore / "metastore_db" / "service.properties").is_file() and (metastore / "derby.log").is_file()


@pytest.mark.parametrize("table", list(MARTS))
def test_spark_marts_equal_duckdb(runs, table):
    assert_marts_match(runs["duckdb"]["warehouse"], runs["spark"]["warehouse"], table)


@pytest.mark.parametrize("export", EXPORTS)
def test_make_export_writes_the_same_parquet(runs, export):
    assert_exports_match(runs["duckdb"]["output"], runs["spark"]["output"], export)


def test_document_rejects_and_vectors_on_spark(runs):
    """The same rejected texts and refs; on Spark, int_text_embeddings holds array<float> of 384 unit-norm values."""
    with runs["duckdb"]["warehouse"].open(read_only=True) as con:
        rejects = con.execute("select * from document_rejects order by all").fetchall()
    warehouse = runs["spark"]["warehouse"]
    with warehouse.open(read_only=True) as con:
        assert con.execute("select * from document_rejects order by all").fetchall() == rejects
    files = sorted((warehouse.tables_dir / "main.db" / "int_text_embeddings").glob("*.parquet"))
    table = pq.read_table(files)
    assert str(table.schema.field("embedding").type) == "list<element: float>"  # Spark's array<float>
    vectors = table.column("embedding").to_pylist()
    assert len(vectors) == 3596 and {len(v) for v in vectors} == {384}
    norms = np.linalg.norm(np.array(vectors, np.float64), axis=1)
    assert np.abs(norms - 1).max() < 1e-5


def test_landing_again_and_rebuilding_the_vectors_add_nothing(runs):
    """`make land` again rewrites no raw file; int_text_embeddings, built again, finds every (content_hash, model_id)
    and appends none (the steps of a second `make run` that could duplicate anything)."""
    warehouse, env = runs["spark"]["warehouse"], runs["spark"]["env"]
    raw_files = {p: p.stat().st_mtime_ns for p in warehouse.raw_dir.rglob("*.parquet")}
    assert "20 batch files, 0 newly landed" in make("land", env)
    assert {p: p.stat().st_mtime_ns for p in warehouse.raw_dir.rglob("*.parquet")} == raw_files
    built = run_dbt(
        warehouse,
        ["build", "--select", "int_text_chunks", "int_text_embeddings"],
        target_path=runs["spark"]["folder"] / "target_again",
    )
    assert "0 chunks to encode, 3596 already encoded" in built.stdout
    with warehouse.open(read_only=True) as con:
        assert con.execute("select count(*) from int_text_embeddings").fetchone() == (3596,)
        assert con.execute("select count(*) from scores").fetchone() == (7837,)


def test_the_orchestrators_graph_on_spark_is_duckdbs(tmp_path, monkeypatch):
    """The orchestrator on Spark: its graph, read from the Spark manifest, is DuckDB's, asset for asset, parent for
    parent, check for check (its runs go through the same runner as `make run` on Spark; a backfill through it,
    measured by hand, in docs/orchestration.md)."""
    duckdb = build_definitions(orchestrator_env(monkeypatch, tmp_path / "duckdb"))
    spark = build_definitions(
        orchestrator_env(monkeypatch, tmp_path / "spark", DBT_TARGET="spark", SPARK_DIR=str(tmp_path / "spark" / "sp"))
    )
    assert graph_shape(spark) == graph_shape(duckdb)
    assert len(graph_shape(spark)["assets"]) >= 40
