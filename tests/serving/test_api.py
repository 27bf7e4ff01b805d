"""The HTTP service (serving.api) over the published copy of a real warehouse (sample document + the judged
passages of 5 TREC DL queries, real model): every endpoint's shape, every validation error, the 503 before
anything is published, and a dbt build + publish running while a live server keeps answering."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from pipeline.publish import publish
from serving.api import create_app
from tests.support.data import model
from tests.support.service import LiveService, assert_error
from tests.support.warehouses import Dbt, query
from warehouse import DuckDBWarehouse

PASSWORD_DOC = "To reset your password, open settings and choose 'Forgot password'"
SIMILAR_EXAMPLE = {
    "query": "How do I reset my password?",
    "documents": [
        "Pancakes: whisk 200 g flour, two eggs and 300 ml milk, rest the batter, then fry in butter.",
        "Tomorrow will be sunny in the morning with showers later; highs around 22 degrees.",
        PASSWORD_DOC,
    ],
}


@pytest.fixture(scope="module")
def client(search_warehouse):
    with TestClient(create_app(published_path=search_warehouse.published_path)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def judged(search_warehouse) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    return search_warehouse.judged()


# ---------------------------------------------------------------- health and OpenAPI


def test_health_reports_the_published_index(client, search_warehouse):
    (rows,) = query(search_warehouse.published_path, "select count(*) from search_chunks")[0]
    published_at, built_at = query(
        search_warehouse.published_path, "select published_at::varchar, warehouse_built_at::varchar from publication"
    )[0]
    body = client.get("/health").json()
    # this warehouse has no users: the interest store is empty (tests/serving/test_interests_api.py covers it)
    assert body.pop("interest_users") == 0
    body.pop("interest_model_version"), body.pop("interest_detail")
    assert body == {
        "status": "ok",
        "model_id": model().model_id,
        "vectors": rows,
        "published_at": published_at,
        "warehouse_built_at": built_at,
        "published_path": str(search_warehouse.published_path),
        "search_backend": "memory",
        "detail": None,
    }
    assert rows > 0


def test_openapi_documents_every_endpoint(client):
    schema = client.get("/openapi.json").json()
    assert schema["info"]["title"]
    assert set(schema["paths"]) == {
        "/search",
        "/find_similar",
        "/documents/{doc_id}/chunks",
        "/health",
        "/interests/{user_handle}",
    }
    search = schema["paths"]["/search"]["get"]
    assert {p["name"] for p in search["parameters"]} == {"q", "k", "mode", "source", "doc_id"}
    assert "SearchResponse" in schema["components"]["schemas"]
    assert client.get("/docs").status_code == 200


# ---------------------------------------------------------------- /search


def test_search_shape_order_and_k(client):
    for k in (1, 3, 10, 25):
        response = client.get("/search", params={"q": "causes of left ventricular hypertrophy", "k": k})
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"query", "mode", "k", "model_id", "results"}
        assert body["query"] == "causes of left ventricular hypertrophy"
        assert (body["mode"], body["k"], body["model_id"]) == ("dense", k, model().model_id)
        results = body["results"]
        assert len(results) == k
        assert all(set(r) == {"id", "text", "score", "source", "doc_id", "chunk_id", "pages"} for r in results)
        scores = [r["score"] for r in results]
        assert scores == sorted(scores, reverse=True)
        assert len({r["id"] for r in results}) == k


@pytest.mark.parametrize("mode", ["bm25", "hybrid"])
def test_search_other_modes(client, mode):
    body = client.get("/search", params={"q": "what is wifi vs bluetooth", "k": 5, "mode": mode}).json()
    assert body["mode"] == mode and len(body["results"]) == 5
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)


def test_dense_finds_a_judged_relevant_passage_in_the_top_10_of_every_query(client, judged):
    queries, qrels = judged
    assert len(queries) == 5
    for query_id, text in queries.items():
        body = client.get("/search", params={"q": text, "k": 10, "mode": "dense"}).json()
        relevant = {passage for passage, grade in qrels[query_id].items() if grade >= 2}
        assert relevant & {r["id"] for r in body["results"]}, (text, [r["id"] for r in body["results"]])


def test_search_filters_by_source_and_doc_id(client):
    documents = client.get("/search", params={"q": "interest payment date", "k": 5, "source": "document"}).json()
    assert len(documents["results"]) == 5
    for r in documents["results"]:
        assert r["source"] == "document" and r["doc_id"] == "10001" and r["id"] == f"10001:{r['chunk_id']}"
        assert isinstance(r["pages"], list) and r["pages"] and all(isinstance(p, int) for p in r["pages"])
    corpus = client.get("/search", params={"q": "interest payment date", "k": 5, "source": "corpus"}).json()
    assert corpus["results"] and all(r["source"] == "corpus" and r["pages"] is None for r in corpus["results"])

    by_corpus = client.get("/search", params={"q": "interest payment date", "doc_id": "msmarco-mini"}).json()
    assert by_corpus["results"] and all(r["doc_id"] == "msmarco-mini" for r in by_corpus["results"])
    params = {"q": "interest payment date", "doc_id": "10001", "mode": "hybrid"}
    by_document = client.get("/search", params=params).json()
    assert by_document["results"] and all(r["doc_id"] == "10001" for r in by_document["results"])
    nothing = client.get("/search", params={"q": "interest payment date", "doc_id": "no-such-doc"})
    assert nothing.status_code == 200 and nothing.json()["results"] == []
    # an empty filter (a form's `source=`) means no filter
    unfiltered = client.get("/search", params={"q": "interest payment date", "source": "", "doc_id": ""})
    assert unfiltered.status_code == 200 and len(unfiltered.json()["results"]) == 10


@pytest.mark.parametrize(
    ("params", "fragments"),
    [
        ({}, ("q", "required")),
        ({"q": ""}, ("q", "empty")),
        ({"q": "   \t "}, ("q", "whitespace")),
        ({"q": "x" * 2001}, ("q", "2000")),
        ({"q": "x", "k": 0}, ("k", "greater than or equal to 1")),
        ({"q": "x", "k": 101}, ("k", "less than or equal to 100")),
        ({"q": "x", "k": "ten"}, ("k", "integer")),
        ({"q": "x", "mode": "fuzzy"}, ("mode", "dense")),
        ({"q": "x", "source": "web"}, ("source", "document")),
    ],
)
def test_search_refuses_bad_input_with_a_422(client, params, fragments):
    assert_error(client.get("/search", params=params), 422, *fragments)


# ---------------------------------------------------------------- /find_similar


def test_find_similar_ranks_the_related_document_first(client):
    response = client.post("/find_similar", json=SIMILAR_EXAMPLE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"most_similar_doc", "similarity_score", "ranking"}
    assert body["most_similar_doc"] == PASSWORD_DOC
    ranking = body["ranking"]
    assert sorted(r["index"] for r in ranking) == [0, 1, 2]
    assert all(r["document"] == SIMILAR_EXAMPLE["documents"][r["index"]] for r in ranking)
    scores = [r["score"] for r in ranking]
    assert scores == sorted(scores, reverse=True)
    assert ranking[0]["index"] == 2 and body["similarity_score"] == scores[0]
    assert scores[0] > 0.5 > scores[1] and all(-1.0 <= s <= 1.0 + 1e-6 for s in scores)


def test_find_similar_scores_are_cosine_similarities(client):
    body = client.post("/find_similar", json={"query": "same text", "documents": ["same text", "other words"]}).json()
    assert body["ranking"][0] == {"index": 0, "document": "same text", "score": pytest.approx(1.0, abs=1e-5)}


def test_find_similar_reads_a_long_document_to_its_end(client):
    """The answer sits after ~600 tokens of unrelated text: a model truncated at 256 tokens could not see it."""
    filler = "The quarterly report lists revenue, costs and the outlook for the coming year. " * 45
    long_document = filler + "To reset your password, open settings and choose 'Forgot password'."
    body = client.post(
        "/find_similar",
        json={
            "query": "How do I reset my password?",
            "documents": [filler + "The weather will be sunny tomorrow.", long_document],
        },
    ).json()
    # truncated, both documents would be the same filler with equal scores (and the tie goes to index 0)
    assert body["ranking"][0]["index"] == 1
    assert body["ranking"][0]["score"] > body["ranking"][1]["score"] + 0.05


@pytest.mark.parametrize(
    ("payload", "fragments"),
    [
        ({"query": "", "documents": ["a"]}, ("query", "empty")),
        ({"query": "  \n", "documents": ["a"]}, ("query", "whitespace")),
        ({"documents": ["a"]}, ("query", "required")),
        ({"query": "x", "documents": []}, ("documents", "at least one")),
        ({"query": "x"}, ("documents", "required")),
        ({"query": "x", "documents": "not a list"}, ("documents", "list")),
        ({"query": "x", "documents": ["a"] * 1001}, ("documents", "1,001", "1,000")),
        ({"query": "x", "documents": ["a", "b" * 20_001]}, ("documents[1]", "20,001", "20,000")),
        ({"query": "x", "documents": ["a", "b", ""]}, ("documents[2]", "empty")),
        ({"query": "x", "documents": ["a", "  "]}, ("documents[1]", "whitespace")),
    ],
)
def test_find_similar_refuses_bad_input_with_a_422(client, payload, fragments):
    assert_error(client.post("/find_similar", json=payload), 422, *fragments)


def test_find_similar_accepts_the_limits(client):
    body = client.post("/find_similar", json={"query": "x" * 20_000, "documents": ["b" * 20_000]}).json()
    assert body["ranking"][0]["index"] == 0


def test_a_body_over_2_mb_is_refused_with_a_413(client):
    big = {"query": "x", "documents": ["y" * 15_000] * 150}  # ~2.25 MB of JSON: refused before parsing
    assert_error(client.post("/find_similar", json=big), 413, "too large", "2 MB")
    # no Content-Length (chunked transfer): the bytes received are counted
    chunks = iter([b"x" * (1 << 20)] * 3)
    response = client.post("/find_similar", content=chunks, headers={"content-type": "application/json"})
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert_error(response, 413, "too large")


# ---------------------------------------------------------------- /documents/{doc_id}/chunks


def test_document_chunks_in_document_order(client, search_warehouse):
    expected = query(
        search_warehouse.published_path,
        "select chunk_id, text, pages, embedding from search_chunks where source = 'document' and doc_id = '10001' "
        "order by source_position, chunk_index",
    )
    response = client.get("/documents/10001/chunks")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["doc_id"], body["model_id"]) == ("10001", model().model_id)
    assert [(c["chunk_id"], c["text"], c["pages"]) for c in body["chunks"]] == [row[:3] for row in expected]
    assert all(set(c) == {"chunk_id", "text", "pages"} for c in body["chunks"])

    with_vectors = client.get("/documents/10001/chunks", params={"vectors": "true"}).json()["chunks"]
    assert [c["chunk_id"] for c in with_vectors] == [row[0] for row in expected]
    vectors = np.array([c["vector"] for c in with_vectors])
    assert vectors.shape == (len(expected), 384)
    assert np.allclose(vectors, np.array([row[3] for row in expected]), atol=1e-6)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)


@pytest.mark.parametrize("doc_id", ["a.b", "10001;drop table x", "bad id", "é"])
def test_malformed_doc_id_is_a_422(client, doc_id):
    assert_error(client.get(f"/documents/{doc_id}/chunks"), 422, "invalid document id")


@pytest.mark.parametrize("doc_id", ["99999", "msmarco-mini"])  # unknown, and a corpus name (not a document)
def test_unknown_document_is_a_404(client, doc_id):
    assert_error(client.get(f"/documents/{doc_id}/chunks"), 404, doc_id, "no document")


# ---------------------------------------------------------------- before anything is published


def test_without_a_published_index_the_service_answers_503_then_picks_one_up(search_warehouse, tmp_path: Path):
    missing = tmp_path / "not-yet.published.duckdb"
    with TestClient(create_app(published_path=missing, refresh_seconds=0.2)) as client:
        health = client.get("/health").json()
        assert (health["status"], health["vectors"], health["published_at"]) == ("no_index", 0, None)
        assert health["model_id"] == model().model_id
        assert_error(client.get("/search", params={"q": "hello"}), 503, "no published index", str(missing), "make run")
        assert_error(client.get("/documents/10001/chunks"), 503, "no published index")
        similar = client.post("/find_similar", json=SIMILAR_EXAMPLE)
        assert similar.status_code == 200 and similar.json()["most_similar_doc"] == PASSWORD_DOC
        assert_error(client.get("/search", params={"q": " "}), 422, "empty")  # input is still checked first

        shutil.copy(search_warehouse.published_path, missing)  # published while the service runs
        deadline = time.monotonic() + 20
        while client.get("/health").json()["status"] != "ok" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/health").json()["status"] == "ok"
        assert client.get("/search", params={"q": "hello", "k": 3}).json()["results"]


def test_what_the_service_loads_is_frozen_out_of_the_cyclic_collector(search_warehouse):
    import gc

    gc.unfreeze()
    try:
        with TestClient(create_app(published_path=search_warehouse.published_path)) as client:
            assert client.get("/health").json()["status"] == "ok"
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_an_index_made_with_another_model_is_a_clear_503(search_warehouse, tmp_path: Path):
    with TestClient(create_app(published_path=search_warehouse.published_path, model=model("hashing"))) as client:
        health = client.get("/health").json()
        assert health["status"] == "no_index" and "configured model is hashing-384" in health["detail"]
        assert_error(client.get("/search", params={"q": "hello"}), 503, "cannot be served", "hashing-384")


# ---------------------------------------------------------------- a build while the service answers


def test_a_build_and_publish_succeed_while_the_service_answers(search_warehouse, tmp_path: Path):
    """The acceptance check: dbt build (and publish) on the warehouse while a live server answers searches.
    The server reads only the published copy, so the build never meets a lock, no request fails, and the
    newly published copy is served without a restart."""
    warehouse = DuckDBWarehouse(tmp_path / search_warehouse.warehouse.path.name)
    published = tmp_path / search_warehouse.published_path.name
    shutil.copy(search_warehouse.warehouse, warehouse)
    shutil.copy(search_warehouse.published_path, published)
    with LiveService(published, tmp_path / "server.log") as service:
        health = service.health_when(lambda h: h["status"] == "ok")
        assert health.get("status") == "ok", service.log_tail()
        before = health["published_at"]
        service.keep_requesting(
            lambda http: http.get("/search", params={"q": "what is wifi vs bluetooth", "k": 5}).status_code
        )
        time.sleep(1)  # a few searches before the build starts
        before_build = len(service.statuses)
        build = Dbt(warehouse, tmp_path / "target")(
            "build", "--select", "+search_chunks", "--indirect-selection", "cautious"
        )
        assert build.returncode == 0
        during_build = len(service.statuses) - before_build
        publish(warehouse, published)
        health = service.health_when(lambda h: h["published_at"] != before, seconds=20)
        assert health["published_at"] != before, service.log_tail()
        assert health["status"] == "ok" and health["vectors"] > 0
        time.sleep(1)  # a few searches on the new snapshot too
    assert during_build >= 3, service.statuses  # the build really overlapped with searches
    assert service.statuses and all(s == 200 for s in service.statuses), [s for s in service.statuses if s != 200][:5]
    # the access log records every search, and never its text (serving.api.request_log)
    log = (tmp_path / "server.log").read_text()
    assert log.count('"GET /search?<query omitted> HTTP/1.1" 200') >= len(service.statuses) - 5, log[-2000:]
    assert "bluetooth" not in log
