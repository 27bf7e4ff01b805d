"""The training triplets of the fine-tuning set: real queries with mined hard negatives, and synthetic
inverse-cloze pairs (the method is described in training.finetune_data's docstring and docs/finetuning.md).

Everything is seeded and ordered (BM25 ties broken by corpus order), so the same corpus and parameters give the
same triplets.
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass, field

import numpy as np

from training.judged_corpus import JudgedCorpus

log = logging.getLogger(__name__)

POSITIVE_GRADE = 2  # TREC DL: relevant means grade >= 2
NEGATIVE_MODES = ("mixed", "judged-0", "bm25-unjudged")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
ICT_MIN_SENTENCES = 3
ICT_MIN_WORDS = 4  # a shorter "sentence" (an abbreviation's tail, a list marker) is no query


@dataclass
class Triplets:
    rows: list[dict] = field(default_factory=list)
    negative_sources: dict[str, int] = field(
        default_factory=lambda: {"judged-0": 0, "bm25-unjudged": 0, "bm25-synthetic": 0}
    )
    positives_judged: int = 0
    positives_dropped: int = 0  # by max_positives_per_query


def bm25_rankings(
    texts: list[str], queries: list[str], depth: int, keep_scores: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per query: the indices of the top `depth` passages by BM25 (ties broken by corpus order), and for the first
    `keep_scores` queries every passage's score too (30,005 floats a query: not kept for thousands of them)."""
    from search.bm25 import BM25Index

    index = BM25Index(texts)
    all_scores, tops = [], []
    positions = np.arange(len(texts))
    for n, query in enumerate(queries):
        scores = index.scores(query).astype(np.float64)
        order = np.lexsort((positions, -scores))  # score descending, then corpus order: deterministic
        if n < keep_scores:
            all_scores.append(scores)
        tops.append(order[:depth][scores[order[:depth]] > 0])
    return all_scores, tops


def ranked_positives(judgments: dict[str, int], position: dict[str, int], rng: random.Random) -> list[str]:
    """A query's passages at grade >= POSITIVE_GRADE: grade 3 first, shuffled with `rng` within a grade."""
    positives = sorted((pid for pid, g in judgments.items() if g >= POSITIVE_GRADE), key=position.__getitem__)
    rng.shuffle(positives)
    positives.sort(key=lambda pid: -judgments[pid])  # stable: the shuffle orders each grade
    return positives


def mine_hard_negatives(
    corpus: JudgedCorpus,
    train_queries: list[str],
    scores: list[np.ndarray],
    tops: list[np.ndarray],
    negatives: str,
    negatives_per_query: int,
    max_positives_per_query: int,
    seed: int,
) -> Triplets:
    """One triplet per kept positive of each training query, its negative taken round robin from the query's
    best-BM25 passages judged 0 or unjudged in its BM25 top (`negatives` picks the pool); never a passage judged
    >= 1."""
    ids, texts, queries, qrels = corpus.ids, corpus.texts, corpus.queries, corpus.qrels
    position = {pid: i for i, pid in enumerate(ids)}
    rng = random.Random(seed)
    mined = Triplets()
    for query_id, query_scores, top in zip(train_queries, scores, tops):
        judgments = qrels[query_id]
        positives = ranked_positives(judgments, position, rng)
        mined.positives_judged += len(positives)
        mined.positives_dropped += max(0, len(positives) - max_positives_per_query)
        positives = positives[:max_positives_per_query]

        rank_of = {int(i): r + 1 for r, i in enumerate(top)}
        judged_zero = {position[pid] for pid, g in judgments.items() if g == 0}
        unjudged = {int(i) for i in top if ids[int(i)] not in judgments}
        candidates = {"mixed": judged_zero | unjudged, "judged-0": judged_zero, "bm25-unjudged": unjudged}[negatives]
        ranked = sorted(candidates, key=lambda i: (-query_scores[i], i))[:negatives_per_query]
        if not ranked:
            log.warning("query %s has no hard negative candidate: skipped", query_id)
            continue
        for k, positive in enumerate(positives):
            negative = ranked[k % len(ranked)]
            source = "judged-0" if ids[negative] in judgments else "bm25-unjudged"
            mined.negative_sources[source] += 1
            mined.rows.append(
                {
                    "query_id": query_id,
                    "anchor": queries[query_id],
                    "positive_id": positive,
                    "positive": texts[position[positive]],
                    "positive_grade": judgments[positive],
                    "negative_id": ids[negative],
                    "negative": texts[negative],
                    "negative_source": source,
                    "negative_bm25_rank": rank_of.get(negative),  # None: judged 0 but beyond the BM25 top `bm25_depth`
                }
            )
    return mined


def inverse_cloze_pairs(
    ids: list[str], texts: list[str], excluded: set[str], count: int, seed: int
) -> list[tuple[int, str, str]]:
    """`count` (passage index, pseudo-query, positive) pairs of the inverse cloze task, from passages not in
    `excluded` that have >= ICT_MIN_SENTENCES sentences of >= ICT_MIN_WORDS words; seeded, in corpus order."""
    eligible = []
    for i, (pid, text) in enumerate(zip(ids, texts)):
        if pid in excluded:
            continue
        sentences = [s.strip() for s in SENTENCE_END.split(text) if s.strip()]
        if len(sentences) >= ICT_MIN_SENTENCES and all(len(s.split()) >= ICT_MIN_WORDS for s in sentences):
            eligible.append((i, sentences))
    if count > len(eligible):
        raise ValueError(f"{count} synthetic pairs asked for, only {len(eligible)} passages qualify")
    rng = random.Random(f"{seed}:inverse-cloze")
    pairs = []
    for i, sentences in sorted(rng.sample(eligible, count), key=lambda e: e[0]):
        k = rng.randrange(len(sentences))
        pairs.append((i, sentences[k], " ".join(sentences[:k] + sentences[k + 1 :])))
    return pairs


def add_synthetic_triplets(
    triplets: Triplets, corpus: JudgedCorpus, pairs: list[tuple[int, str, str]], tops: list[np.ndarray]
) -> None:
    """Append an inverse-cloze triplet per pair whose pseudo-query has a BM25 hit (`tops`) other than its passage."""
    for (source, pseudo_query, positive), top in zip(pairs, tops):
        negative = next((int(i) for i in top if int(i) != source), None)
        if negative is None:
            continue  # the pseudo-query shares no term with any other passage
        triplets.negative_sources["bm25-synthetic"] += 1
        triplets.rows.append(
            {
                "query_id": f"ict:{corpus.ids[source]}",
                "anchor": pseudo_query,
                "positive_id": corpus.ids[source],
                "positive": positive,
                "positive_grade": None,
                "negative_id": corpus.ids[negative],
                "negative": corpus.texts[negative],
                "negative_source": "bm25-synthetic",
                "negative_bm25_rank": next(r + 1 for r, i in enumerate(top) if int(i) == negative),
            }
        )
