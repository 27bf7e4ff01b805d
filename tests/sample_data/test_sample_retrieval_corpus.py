"""The committed sample retrieval corpus is what the generator makes, is consistent, and is learnable by BM25."""

from __future__ import annotations

import json
from pathlib import Path

import bm25s
import pytest
import Stemmer

from landing.corpora import read_beir_folder
from synthetic.common import SAMPLE_DIR
from synthetic.retrieval import TOPICS, write_retrieval_corpus

COMMITTED = SAMPLE_DIR / "retrieval" / "sample-faq"
FILES = ("corpus.jsonl", "queries.jsonl", "qrels.tsv")


def read_corpus(folder: Path) -> dict[str, str]:
    records = [json.loads(line) for line in (folder / "corpus.jsonl").read_text().splitlines()]
    assert all(set(record) == {"_id", "title", "text"} for record in records)
    return {record["_id"]: record["text"] for record in records}


def test_regenerating_gives_the_committed_bytes(tmp_path: Path):
    write_retrieval_corpus(tmp_path)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (COMMITTED / name).read_bytes(), name


def test_ids_and_judgments_are_consistent():
    corpus = read_corpus(COMMITTED)
    committed = read_beir_folder(COMMITTED)
    queries, qrels = dict(committed.queries), committed.judgments()
    assert (COMMITTED / "qrels.tsv").read_text().splitlines()[0] == "query-id\tcorpus-id\tscore"
    assert 250 <= len(corpus) <= 350 and len(set(corpus.values())) == len(corpus)  # no duplicate passages
    assert len(queries) == len(TOPICS) == 30
    assert set(qrels) == set(queries)
    for query_id, judged in qrels.items():
        assert set(judged) <= set(corpus), query_id
        assert 5 <= len(judged) <= 10, query_id
        assert list(judged.values()).count(3) == 1, query_id
        assert any(grade >= 2 for grade in judged.values()), query_id
        assert 0 in judged.values(), query_id  # near misses are judged


def test_near_misses_share_a_query_word():
    for query, _, _, near_miss, word in TOPICS:
        assert word in query.split(), query
        assert set(near_miss.lower().replace(",", " ").replace(".", " ").split()) & set(query.split()), query


def test_bm25_finds_a_relevant_passage_in_the_top_5_for_most_queries():
    corpus = read_corpus(COMMITTED)
    committed = read_beir_folder(COMMITTED)
    queries, qrels = dict(committed.queries), committed.judgments()
    passage_ids = list(corpus)
    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(list(corpus.values()), stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    hits, _ = retriever.retrieve(
        bm25s.tokenize(list(queries.values()), stopwords="en", stemmer=stemmer, show_progress=False),
        k=5,
        show_progress=False,
    )
    found = [
        any(qrels[query_id].get(passage_ids[index], 0) >= 2 for index in top5) for query_id, top5 in zip(queries, hits)
    ]
    assert sum(found) / len(found) >= 0.8
    # and the near misses are not noise: at least one outranks every relevant passage somewhere
    near_miss_first = [qrels[query_id].get(passage_ids[top5[0]]) == 0 for query_id, top5 in zip(queries, hits)]
    assert any(near_miss_first)


@pytest.mark.parametrize("name", FILES)
def test_files_end_with_a_newline_and_no_blank_lines(name: str):
    text = (COMMITTED / name).read_text()
    assert text.endswith("\n") and "\n\n" not in text
