"""A small retrieval corpus in BEIR layout (`corpus.jsonl`, `queries.jsonl`, `qrels.tsv`), like the TREC DL one.

Thirty everyday how-to and fact topics, each with its own vocabulary: one query per topic, a passage that answers
it directly (grade 3), six more passages on the topic (grade 2) and two near misses that share the query's words
but are about something else (grade 0), plus unjudged filler. Passage ids are shuffled so they say nothing about the
topic; titles are empty, as in MS MARCO. Small enough to commit and to test on, learnable by BM25 but not trivially.
The topics, near misses and filler words are data: `synthetic/vocabulary/retrieval.json`. Same seed, same bytes.
"""

from __future__ import annotations

import random
from itertools import combinations
from pathlib import Path

from synthetic.common import vocabulary, write_jsonl

_VOCABULARY = vocabulary("retrieval")
# (query, the passage that answers it, five on-topic facts, a near miss sharing the query's words, a query word)
TOPICS: tuple[tuple[str, str, tuple[str, ...], str, str], ...] = tuple(
    (topic["query"], topic["answer"], tuple(topic["facts"]), topic["near_miss"], topic["query_word"])
    for topic in _VOCABULARY["topics"]
)
# second near miss: only the query word in common
NEAR_MISS_TEMPLATES: tuple[str, ...] = tuple(_VOCABULARY["near_miss_templates"])
# unjudged filler on nobody's topic
FILLER_NAMES: tuple[str, ...] = tuple(_VOCABULARY["filler_names"])
FILLER_SUBJECTS: tuple[str, ...] = tuple(_VOCABULARY["filler_subjects"])
FILLER_TEMPLATES: tuple[str, ...] = tuple(_VOCABULARY["filler_templates"])

ON_TOPIC_PASSAGES = 6  # per topic, grade 2
FILLER_PASSAGES = 30


def _on_topic_passages(facts: tuple[str, ...], rng: random.Random) -> list[str]:
    """Distinct 1-3 fact passages, so on-topic passages overlap like real ones without being duplicates."""
    candidates = [combo for size in (1, 2, 3) for combo in combinations(range(len(facts)), size)]
    chosen = rng.sample(candidates, ON_TOPIC_PASSAGES)
    passages = []
    for combo in chosen:
        order = list(combo)
        rng.shuffle(order)
        passages.append(" ".join(facts[i] for i in order))
    return passages


def write_retrieval_corpus(folder: Path, seed: int = 0) -> None:
    rng = random.Random(seed)
    passages: list[tuple[str, str | None, int]] = []  # (text, query id or None, grade)
    queries: list[tuple[str, str]] = []
    for number, (query, answer, facts, near_miss, word) in enumerate(TOPICS, start=1):
        query_id = f"q{number:02d}"
        queries.append((query_id, query))
        if rng.random() < 0.5:  # sometimes the answer comes with a supporting fact, as in real passages
            answer = f"{answer} {rng.choice(facts)}"
        passages.append((answer, query_id, 3))
        passages.extend((text, query_id, 2) for text in _on_topic_passages(facts, rng))
        passages.append((near_miss, query_id, 0))
        template = rng.choice(NEAR_MISS_TEMPLATES)
        passages.append((template.format(word=word.capitalize()), query_id, 0))
    fillers: set[str] = set()
    while len(fillers) < FILLER_PASSAGES:
        template = rng.choice(FILLER_TEMPLATES)
        fillers.add(template.format(name=rng.choice(FILLER_NAMES), subject=rng.choice(FILLER_SUBJECTS)))
    passages.extend((text, None, 0) for text in sorted(fillers))
    rng.shuffle(passages)

    folder.mkdir(parents=True, exist_ok=True)
    qrels: list[tuple[str, str, int]] = []
    corpus = []
    for number, (text, query_id, grade) in enumerate(passages, start=1):
        passage_id = f"p{number:04d}"
        corpus.append({"_id": passage_id, "title": "", "text": text})
        if query_id is not None:
            qrels.append((query_id, passage_id, grade))
    write_jsonl(folder / "corpus.jsonl", corpus)
    write_jsonl(folder / "queries.jsonl", ({"_id": query_id, "text": text} for query_id, text in queries))
    with open(folder / "qrels.tsv", "w", encoding="utf-8", newline="\n") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for query_id, passage_id, grade in sorted(qrels):
            handle.write(f"{query_id}\t{passage_id}\t{grade}\n")
