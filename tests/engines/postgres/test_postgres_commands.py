"""Every make target that reads the warehouse follows DBT_TARGET: on a Postgres warehouse built by `make run` from
the 20 real score batches and a real judged corpus (5 TREC DL 2019 queries and their judged passages), `make report`,
`make docs`, `make evaluate-retrieval`, `make finetune-data` and `make promote-model` read Postgres, never a DuckDB
file (DUCKDB_PATH points at a file that must never appear)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.support.data import REAL_SCORE_BATCHES, SEARCH_TEST_QUERY_IDS, require_real, write_corpus_subset
from tests.support.warehouses import make, throwaway_postgres

pytestmark = pytest.mark.slow

CORPUS = "msmarco-trec-dl"
QUERY_IDS = SEARCH_TEST_QUERY_IDS  # five real judged queries and their passages: enough for every command


@pytest.fixture(scope="module")
def postgres():
    yield from throwaway_postgres("postgres-test-commands")


@pytest.fixture(scope="module")
def built(postgres, tmp_path_factory) -> dict:
    """`make run` on DBT_TARGET=postgres over the real batches and the judged corpus subset; the environment each
    later command runs in."""
    folder = tmp_path_factory.mktemp("postgres_commands")
    data = folder / "data"
    data.mkdir()
    (data / "score_batches").symlink_to(require_real(REAL_SCORE_BATCHES))
    write_corpus_subset(data / "retrieval" / CORPUS, QUERY_IDS)
    env = {
        **os.environ,
        **postgres.env(),
        "DBT_TARGET": "postgres",
        "DATA_DIR": str(data),
        "DUCKDB_PATH": str(folder / "never.duckdb"),
        "OUTPUT_DIR": str(folder / "output"),
        "PUBLISHED_PATH": str(folder / "published.duckdb"),
        "ARTIFACTS_DIR": str(folder / "artifacts"),
        "DBT_TARGET_PATH": str(folder / "target"),
        "DBT_LOG_PATH": str(folder / "logs"),
    }
    log = make("run", env)
    return {"folder": folder, "env": env, "log": log}


def test_make_report_reads_the_postgres_marts(built):
    out = make("report", built["env"])
    report = (built["folder"] / "output" / "report" / "report.md").read_text()
    assert "[report] wrote" in out and "Warehouse `postgresql://" in report
    assert "..19 (" in report  # every iteration up to the last real batch
    assert not Path(built["env"]["DUCKDB_PATH"]).exists()


def test_make_docs_documents_and_checks_the_postgres_warehouse(built):
    out = make("docs", built["env"])
    catalog = json.loads((built["folder"] / "target" / "catalog.json").read_text())
    assert "model.ml_platform.percentile_history" in catalog["nodes"]
    assert "[quality] warehouse=postgresql://" in out and "checkpoint passed" in out


def test_make_evaluate_retrieval_reads_the_judged_queries_from_postgres(built):
    out = make("evaluate-retrieval", built["env"])
    report = json.loads((built["folder"] / "output" / "eval" / f"{CORPUS}.json").read_text())
    assert f"[eval] {CORPUS}: {len(QUERY_IDS)} queries" in out
    assert report["queries_evaluated"] == len(QUERY_IDS) and set(report["results"]) == {"dense", "bm25", "hybrid"}


def test_make_finetune_data_then_promote_model_on_postgres(built):
    """The fine-tuning set from the Postgres corpus, then the promotion gate over the same corpus with a candidate
    as `make finetune` writes one (the packaged weights: no better, so the baseline stays)."""
    from sentence_transformers import SentenceTransformer

    from embeddings.model_source import default_model_dir

    out = make("finetune-data", built["env"])
    dataset = built["folder"] / "artifacts" / "datasets" / "v1"
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert str(dataset) in out and manifest["source"]["corpus"] == CORPUS
    assert 0 < sum(manifest["split"]["counts"].values()) <= len(QUERY_IDS)

    candidate = built["folder"] / "artifacts" / "models" / "v1"
    SentenceTransformer(str(default_model_dir()), device="cpu").save(str(candidate))
    (candidate / "training.json").write_text(json.dumps({"dataset": {"path": str(dataset), "version": "v1"}}))
    out = make("promote-model", built["env"])
    assert "[evaluate] REJECTED" in out and "recorded in" in out
    registry = json.loads((built["folder"] / "artifacts" / "registry.json").read_text())
    assert [entry["decision"] for entry in registry["entries"]] == ["rejected"]
    shutil.rmtree(candidate)
    assert not Path(built["env"]["DUCKDB_PATH"]).exists()
