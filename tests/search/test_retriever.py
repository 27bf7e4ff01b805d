"""`Retriever.search` on a small real corpus (the judged passages of 5 TREC DL queries) and the sample
document, with the real model, read from the published copy of the warehouse."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.publish import publish
from search.results import MODES, RetrieverError
from serving import Result, Retriever
from tests.support.data import model
from tests.support.warehouses import query


@pytest.fixture(scope="module")
def retriever(search_warehouse) -> Retriever:
    return Retriever(search_warehouse.published_path)


@pytest.fixture(scope="module")
def judged(search_warehouse) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    return search_warehouse.judged()


def test_index_holds_every_published_chunk(retriever, search_warehouse):
    (chunks,) = query(search_warehouse.published_path, "select count(*) from search_chunks")[0]
    assert retriever.index.size == chunks > 0
    assert retriever.index.vectors.shape == (chunks, 384)
    assert np.allclose(np.linalg.norm(retriever.index.vectors, axis=1), 1, atol=1e-3)


@pytest.mark.parametrize("mode", MODES)
def test_a_judged_relevant_passage_is_in_the_top_10_of_every_query(retriever, judged, mode):
    queries, qrels = judged
    for query_id, text in queries.items():
        results = retriever.search(text, 10, mode=mode, source="corpus")
        relevant = {p for p, grade in qrels[query_id].items() if grade >= 2}
        assert relevant & {r.document_id for r in results}, (mode, text, [r.document_id for r in results])


@pytest.mark.parametrize("mode", MODES)
def test_results_are_sorted_unique_and_k_is_honoured(retriever, mode):
    for k in (1, 3, 25):
        results = retriever.search("causes of left ventricular hypertrophy", k, mode=mode)
        assert len(results) == k
        assert all(isinstance(r, Result) for r in results)
        scores = [r.score for r in results]
        assert scores == sorted(scores, reverse=True)
        assert len({r.document_id for r in results}) == k


def test_dense_scores_are_the_cosine_similarity_in_sql(retriever, search_warehouse):
    """The in-memory index answers what the documented SQL query answers."""
    text = "hydrogen is a liquid below what temperature"
    results = retriever.search(text, 5, mode="dense")
    vector = retriever.encode_query(text).tolist()
    rows = query(
        search_warehouse.published_path,
        "select result_id, array_cosine_similarity(embedding, ?::float[384]) as score "
        "from search_chunks order by score desc limit 5",
        [vector],
    )
    assert [r.document_id for r in results] == [row[0] for row in rows]
    assert [r.score for r in results] == pytest.approx([row[1] for row in rows], abs=1e-5)


def test_a_repeated_query_is_encoded_once(search_warehouse, monkeypatch):
    """The query-vector cache: the second search of a text reuses its vector (same results, no encoder call);
    another text, or a Retriever with the cache off, encodes."""
    import search.retriever as retriever_module

    calls = []
    encode = retriever_module.encode_texts
    monkeypatch.setattr(
        retriever_module, "encode_texts", lambda spec, texts, **kw: calls.append(texts) or encode(spec, texts, **kw)
    )
    cached, uncached = (Retriever(search_warehouse.published_path, query_cache_size=size) for size in (100, 0))
    text = "causes of left ventricular hypertrophy"
    first = cached.search(text, 10, mode="dense")
    assert cached.search(text, 10, mode="hybrid") and cached.search(text, 10, mode="dense") == first
    assert calls == [[text]]
    assert cached.search(text.upper(), 10, mode="dense") and calls == [[text], [text.upper()]]
    assert uncached.search(text, 10, mode="dense") == first and uncached.search(text, 10, mode="dense") == first
    assert len(calls) == 4
    with pytest.raises(ValueError):  # the cached vector is shared: nobody may change it in place
        cached.encode_query(text)[0] = 1.0


def test_concurrent_queries_are_scored_together_and_get_what_each_gets_alone(retriever, judged):
    """DenseScorer: queries arriving while a product runs share the next one (fewer products than queries), and
    every query's scores are bit-identical to its scores alone, whatever it was batched with."""
    import threading

    texts = list(judged[0].values()) + ["causes of left ventricular hypertrophy", "what is a hydrogen bond"]
    vectors = [retriever.encode_query(text) for text in texts]
    index = retriever.index
    alone = [index.dense_scores(vector).copy() for vector in vectors]
    products, queries = index.scorer.products, index.scorer.queries
    start, together, failures = threading.Barrier(len(vectors) * 3), {}, []

    def search(slot: int, vector) -> None:
        start.wait()
        for rounds in range(4):
            scores = index.dense_scores(vector)
            if not np.array_equal(scores, alone[slot % len(vectors)]):
                failures.append(slot)
        together[slot] = scores

    threads = [
        threading.Thread(target=search, args=(slot, vectors[slot % len(vectors)])) for slot in range(len(vectors) * 3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures and len(together) == len(threads)
    assert index.scorer.queries - queries == len(threads) * 4
    assert index.scorer.products - products < len(threads) * 4  # some products scored several queries


def test_bm25_finds_an_exact_rare_term(retriever, search_warehouse):
    """A word whose stem occurs in a single passage (BM25 matches stems): that passage ranks first."""
    import Stemmer

    stem = Stemmer.Stemmer("english").stemWord
    texts = dict(
        query(search_warehouse.published_path, "select result_id, text from search_chunks where source = 'corpus'")
    )
    passages_by_stem: dict[str, set[str]] = {}
    word_of_stem: dict[str, str] = {}
    for result_id, text in texts.items():
        for word in {w.lower().strip(".,;:()\"'") for w in text.split()}:
            if word.isalpha() and len(word) > 8:
                passages_by_stem.setdefault(stem(word), set()).add(result_id)
                word_of_stem.setdefault(stem(word), word)
    rare = sorted(word_of_stem[s] for s, ids in passages_by_stem.items() if len(ids) == 1)
    words = {word_of_stem[s]: ids for s, ids in passages_by_stem.items()}
    assert rare
    for word in rare[:5]:
        (expected,) = words[word]
        assert retriever.search(word, 3, mode="bm25")[0].document_id == expected, word


def test_bm25_without_a_matching_term_returns_nothing(retriever):
    assert retriever.search("zzzxqv qqqpzz", 5, mode="bm25") == []


def test_filters_restrict_to_a_source_and_a_document(retriever):
    documents = retriever.search("interest payment date", 5, source="document")
    assert documents and all(r.source == "document" and r.doc_id == "10001" for r in documents)
    assert all(r.document_id == f"10001:{r.chunk_id}" and r.pages for r in documents)
    corpus = retriever.search("interest payment date", 5, mode="hybrid", doc_id="msmarco-mini")
    assert corpus and all(r.source == "corpus" and r.pages is None for r in corpus)
    assert retriever.search("interest payment date", 5, doc_id="no-such-doc") == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": "  ", "k": 5}, "non-blank"),
        ({"query": "\u200b\u3000", "k": 5}, "non-blank"),  # blank by the one definition, not by str.strip
        ({"query": "x", "k": 0}, "positive"),
        ({"query": "x", "k": 5, "mode": "fuzzy"}, "unknown search mode"),
        ({"query": "x", "k": 5, "source": "web"}, "unknown source"),
    ],
)
def test_bad_arguments_are_refused(retriever, kwargs, message):
    with pytest.raises(ValueError, match=message):
        retriever.search(**kwargs)


def test_missing_index_and_foreign_model_are_clear_errors(search_warehouse, tmp_path: Path):
    with pytest.raises(RetrieverError, match="no published search index"):
        Retriever(tmp_path / "nothing.duckdb")
    with pytest.raises(RetrieverError, match="configured model is hashing-384"):
        Retriever(search_warehouse.published_path, model=model("hashing"))


def test_refresh_swaps_in_a_newly_published_copy(search_warehouse, tmp_path: Path):
    published = tmp_path / "published.duckdb"
    shutil.copy(search_warehouse.published_path, published)
    retriever = Retriever(published)
    assert retriever.refresh() is False
    before = retriever.index.published_at
    publish(search_warehouse.warehouse, published)
    assert retriever.refresh() is True
    assert retriever.index.published_at != before
    assert retriever.search("what is wifi vs bluetooth", 3)


def test_a_broken_copy_raises_on_refresh_and_the_old_snapshot_keeps_serving(search_warehouse, tmp_path: Path):
    published = tmp_path / "published.duckdb"
    shutil.copy(search_warehouse.published_path, published)
    retriever = Retriever(published)
    before = retriever.index
    broken = tmp_path / "broken.duckdb"
    broken.write_bytes(b"not a duckdb file" * 100)
    os.replace(broken, published)  # published the way pipeline.publish publishes: renamed over the old copy
    with pytest.raises(RetrieverError, match="cannot open"):
        retriever.refresh()
    assert retriever.index is before
    assert retriever.search("what is wifi vs bluetooth", 3)
