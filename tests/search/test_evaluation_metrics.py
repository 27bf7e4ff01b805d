"""The evaluation harness reports hand-computed values on hand-made judgments and runs.

nDCG here is Järvelin & Kekäläinen's, linear gain, as trec_eval's ndcg_cut:
DCG@10 = sum over ranks i <= 10 of grade_i / log2(i + 1), nDCG@10 = DCG@10 / ideal DCG@10, where the ideal ranking
sorts the judged passages by grade (grade-0 passages add nothing).
"""

from __future__ import annotations

import json
from math import log2

import numpy as np
import pytest

from search.evaluation import (
    METRICS,
    EvaluationReport,
    MetricResult,
    evaluate_run,
    metric_definitions,
)

QRELS = {
    "q1": {"d1": 3, "d2": 0},
    "q2": {"d3": 2, "d4": 0, "d5": 0},
    "q3": {"d6": 1, "d7": 2},
}
RUN = {
    "q1": {"d1": 0.9, "d2": 0.5},  # relevant at rank 1
    "q2": {"d4": 0.9, "d5": 0.8, "d3": 0.7},  # first relevant at rank 3
    "q3": {"d6": 0.9, "d7": 0.8},  # grade 1 at rank 1, grade 2 at rank 2
}

# nDCG@10 by hand:
# q1: DCG = 3/log2(2) = 3, ideal 3                                  -> 1
# q2: DCG = 2/log2(4) = 1, ideal 2/log2(2) = 2                      -> 0.5
# q3: DCG = 1/log2(2) + 2/log2(3) = 2.26186, ideal 2 + 1/log2(3) = 2.63093 -> 0.85972
NDCG_Q3 = (1 + 2 / log2(3)) / (2 + 1 / log2(3))
# the exponential (Burges) gain 2^g - 1 would give (1 + 3/log2(3)) / (3 + 1/log2(3)) = 0.79671 instead
NDCG_Q3_BURGES = (1 + 3 / log2(3)) / (3 + 1 / log2(3))


def per_query(results: dict[str, MetricResult], metric: str) -> dict[str, float]:
    return results[metric].per_query


def test_metric_definitions_carry_the_relevance_threshold():
    definitions = metric_definitions(2)
    assert tuple(definitions) == METRICS
    for metric in ("hit@1", "mrr@10", "recall@100"):
        assert "grade >= 2" in definitions[metric]
    assert "grade >= 3" in metric_definitions(3)["mrr@10"]
    assert "linear gain" in definitions["ndcg@10"]


def test_hand_computed_values_at_threshold_2():
    results = evaluate_run(QRELS, RUN, relevance_threshold=2)
    assert set(results) == set(METRICS)
    assert per_query(results, "hit@1") == {"q1": 1.0, "q2": 0.0, "q3": 0.0}
    assert per_query(results, "mrr@10") == pytest.approx({"q1": 1.0, "q2": 1 / 3, "q3": 1 / 2})
    assert per_query(results, "recall@100") == pytest.approx({"q1": 1.0, "q2": 1.0, "q3": 1.0})
    assert per_query(results, "ndcg@10") == pytest.approx({"q1": 1.0, "q2": 0.5, "q3": NDCG_Q3})
    assert results["hit@1"].mean == pytest.approx(1 / 3)
    assert results["mrr@10"].mean == pytest.approx((1 + 1 / 3 + 1 / 2) / 3)  # 11/18
    assert results["ndcg@10"].mean == pytest.approx((1 + 0.5 + NDCG_Q3) / 3)


def test_ndcg_uses_linear_gain_not_burges():
    ndcg = evaluate_run(QRELS, RUN)["ndcg@10"].per_query["q3"]
    assert ndcg == pytest.approx(0.85972, abs=1e-5)
    assert ndcg != pytest.approx(NDCG_Q3_BURGES, abs=1e-3)


def test_threshold_1_counts_grade_1_as_relevant():
    results = evaluate_run(QRELS, RUN, relevance_threshold=1)
    # q3's grade-1 passage at rank 1 is now relevant
    assert per_query(results, "hit@1")["q3"] == 1.0
    assert per_query(results, "mrr@10")["q3"] == 1.0
    # nDCG does not depend on the threshold: it always uses the grades
    assert per_query(results, "ndcg@10")["q3"] == pytest.approx(NDCG_Q3)


def test_recall_counts_relevant_passages_missing_from_the_run():
    qrels = {"q4": {"d8": 2, "d9": 3, "d10": 1}}
    run = {"q4": {"d9": 0.9, "d11": 0.5}}  # d8 (grade 2) never retrieved
    assert evaluate_run(qrels, run, relevance_threshold=2)["recall@100"].mean == pytest.approx(1 / 2)
    assert evaluate_run(qrels, run, relevance_threshold=1)["recall@100"].mean == pytest.approx(1 / 3)


def test_cutoffs_at_10_and_100():
    qrels = {"q": {"rel": 2}}
    ten_misses = {f"n{i:03d}": 1000.0 - i for i in range(10)}
    run = {"q": {**ten_misses, "rel": 1.0}}  # relevant at rank 11
    results = evaluate_run(qrels, run)
    assert results["mrr@10"].mean == 0.0
    assert results["ndcg@10"].mean == 0.0
    assert results["recall@100"].mean == 1.0
    hundred_misses = {f"n{i:03d}": 1000.0 - i for i in range(100)}
    run = {"q": {**hundred_misses, "rel": 1.0}}  # relevant at rank 101
    assert evaluate_run(qrels, run)["recall@100"].mean == 0.0


def test_query_missing_from_the_run_counts_zero():
    qrels = {**QRELS, "q5": {"d12": 2}}
    run = {**RUN, "qx": {"d1": 1.0}}  # qx is not judged: ignored
    results = evaluate_run(qrels, run)
    for metric in METRICS:
        assert set(results[metric].per_query) == {"q1", "q2", "q3", "q5"}
        assert results[metric].per_query["q5"] == 0.0
    assert results["hit@1"].mean == pytest.approx(1 / 4)
    assert results["mrr@10"].mean == pytest.approx((1 + 1 / 3 + 1 / 2) / 4)
    assert results["recall@100"].mean == pytest.approx(3 / 4)


def test_empty_run_scores_zero():
    results = evaluate_run(QRELS, {"q1": {}})
    for metric in METRICS:
        assert results[metric].mean == 0.0
        assert len(results[metric].per_query) == 3


def test_queries_without_a_relevant_passage_are_excluded():
    qrels = {**QRELS, "q6": {"d13": 1, "d14": 0}}  # nothing at grade >= 2
    run = {**RUN, "q6": {"d13": 1.0}}
    at_2 = evaluate_run(qrels, run, relevance_threshold=2)
    for metric in METRICS:
        assert "q6" not in at_2[metric].per_query
    assert at_2["hit@1"].mean == pytest.approx(1 / 3)  # not diluted to 1/4
    at_1 = evaluate_run(qrels, run, relevance_threshold=1)
    assert at_1["hit@1"].per_query["q6"] == 1.0


def test_ties_keep_the_run_order():
    # d00..d19 alternate scores 1.0 / 2.0, so the run order is d01, d03, ..., d19, d00, d02, ...
    # (a sort that breaks ties arbitrarily, as ranx's did, put d17 first)
    run = {"q": {f"d{i:02d}": 2.0 if i % 2 else 1.0 for i in range(20)}}
    assert evaluate_run({"q": {"d01": 2}}, run)["hit@1"].mean == 1.0
    assert evaluate_run({"q": {"d03": 2}}, run)["mrr@10"].mean == pytest.approx(1 / 2)
    assert evaluate_run({"q": {"d00": 2}}, run)["mrr@10"].mean == 0.0  # rank 11


def varied_case(n: int = 20) -> tuple[dict, dict]:
    """Query i has its relevant passage at rank i % 5 + 1, so reciprocal ranks vary."""
    qrels, run = {}, {}
    for i in range(n):
        rank = i % 5 + 1
        docs = [f"x{i}_{j}" for j in range(rank - 1)] + [f"rel{i}"]
        qrels[f"q{i:02d}"] = {f"rel{i}": 2}
        run[f"q{i:02d}"] = {doc: 10.0 - position for position, doc in enumerate(docs)}
    return qrels, run


def test_ci_contains_the_mean():
    qrels, run = varied_case()
    result = evaluate_run(qrels, run)["mrr@10"]
    assert result.mean == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4 + 1 / 5) / 5)
    assert result.ci_low < result.mean < result.ci_high


def test_ci_matches_a_percentile_bootstrap_over_sorted_query_ids():
    qrels, run = varied_case()
    result = evaluate_run(qrels, run, bootstrap_samples=500, seed=7)["mrr@10"]
    values = np.array([result.per_query[q] for q in sorted(result.per_query)])
    samples = np.random.default_rng(7).integers(0, len(values), size=(500, len(values)))
    low, high = np.percentile(values[samples].mean(axis=1), [2.5, 97.5])
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high))


def test_ci_collapses_when_all_queries_score_the_same():
    qrels = {f"q{i}": {f"rel{i}": 3} for i in range(8)}
    run = {f"q{i}": {f"miss{i}": 2.0, f"rel{i}": 1.0} for i in range(8)}  # every query: relevant at rank 2
    results = evaluate_run(qrels, run)
    assert results["hit@1"].mean == results["hit@1"].ci_low == results["hit@1"].ci_high == 0.0
    assert results["recall@100"].ci_low == results["recall@100"].ci_high == 1.0
    mrr = results["mrr@10"]
    assert (mrr.mean, mrr.ci_low, mrr.ci_high) == pytest.approx((0.5, 0.5, 0.5))


def test_same_seed_same_ci_other_seed_other_ci():
    qrels, run = varied_case()
    first = evaluate_run(qrels, run, seed=3)["mrr@10"]
    again = evaluate_run(qrels, run, seed=3)["mrr@10"]
    other = evaluate_run(qrels, run, seed=4)["mrr@10"]
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="relevance_threshold"):
        evaluate_run(QRELS, RUN, relevance_threshold=0)
    with pytest.raises(ValueError, match="no query"):
        evaluate_run({"q": {"d": 1}}, {"q": {"d": 1.0}}, relevance_threshold=2)
    with pytest.raises(ValueError, match="bootstrap_samples"):
        evaluate_run(QRELS, RUN, bootstrap_samples=0)


def make_report() -> EvaluationReport:
    return EvaluationReport(
        corpus="toy",
        corpus_size=7,
        queries_evaluated=3,
        model_id="all-MiniLM-L6-v2",
        relevance_threshold=2,
        date="2024-05-01",
        command="python -m benchmarks.retrieval --corpus toy",
        results={
            "bm25": evaluate_run(QRELS, RUN),
            "dense": evaluate_run(QRELS, {"q1": {"d1": 1.0}, "q2": {"d3": 1.0}, "q3": {"d7": 1.0, "d6": 0.5}}),
        },
    )


def test_markdown_has_every_mode_and_metric():
    markdown = make_report().to_markdown()
    header = next(line for line in markdown.splitlines() if line.startswith("| mode"))
    for metric in METRICS:
        assert metric in header
    bm25 = next(line for line in markdown.splitlines() if line.startswith("| bm25 |"))
    dense = next(line for line in markdown.splitlines() if line.startswith("| dense |"))
    assert "0.611 [" in bm25  # mrr@10 = 11/18
    assert dense.count("1.000 [1.00, 1.00]") == 4
    for fact in (
        "toy",
        "7 passages",
        "3 queries",
        "all-MiniLM-L6-v2",
        "grade >= 2",
        "python -m benchmarks.retrieval --corpus toy",
        "2024-05-01",
    ):
        assert fact in markdown


def test_json_leaves_per_query_out_unless_asked():
    report = make_report()
    summary = json.loads(report.to_json())
    hit = report.results["bm25"]["hit@1"]
    expected = {"mean": 1 / 3, "ci_low": hit.ci_low, "ci_high": hit.ci_high}
    assert summary["results"]["bm25"]["hit@1"] == pytest.approx(expected)
    assert summary["metrics"] == metric_definitions(2)
    full = json.loads(report.to_json(include_per_query=True))
    assert full["results"]["bm25"]["mrr@10"]["per_query"] == pytest.approx({"q1": 1.0, "q2": 1 / 3, "q3": 0.5})
