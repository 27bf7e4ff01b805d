"""Retrieval evaluation on graded judgments: the four metrics, computed here, and their uncertainty.

The conventions, so that every figure the project reports means the same thing (TREC DL's, as trec_eval computes
them):

- relevance: hit@1, mrr@10 and recall@100 count a passage as relevant only at grade >= `relevance_threshold`
  (TREC DL: 2); ndcg@10 uses the raw grades with linear gain (Järvelin & Kekäläinen, as trec_eval's ndcg_cut),
  not the exponential gain 2^grade - 1;
- the evaluated query set: queries with at least one passage at the threshold; the others are excluded from every
  average (TREC convention), and judged queries the run left empty count 0;
- ties: documents with equal scores keep the order the run lists them in;
- uncertainty: a 95% percentile-bootstrap interval over queries, deterministic for a seed.

The metrics were computed by ranx until its numba compilation (two minutes in a fresh environment, 20 s to load
its cache in every later process) outweighed four short formulas. When it was replaced, these gave exactly ranx's
per-query values (largest difference 0) on the real DL19 judgments, 43 queries, six random runs of 120-180
passages each with many tied scores, at thresholds 1 and 2.

Judgments and queries come from the warehouse (`corpus_queries` / `corpus_qrels`: search.evaluate.judged_corpora);
the BEIR files themselves are read only by the landing (landing.corpora).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

METRICS = ("hit@1", "mrr@10", "ndcg@10", "recall@100")
NDCG_CUTOFF, MRR_CUTOFF, RECALL_CUTOFF = 10, 10, 100


@dataclass(frozen=True)
class MetricResult:
    mean: float
    ci_low: float
    ci_high: float
    per_query: dict[str, float] = field(repr=False, compare=False)


def metric_definitions(relevance_threshold: int) -> dict[str, str]:
    """What each metric computes, as a report states it next to the figures."""
    relevant = f"a passage at grade >= {relevance_threshold}"
    return {
        "hit@1": f"1 if the first passage is {relevant}, else 0",
        "mrr@10": f"1 / the rank of the first {relevant} within the top 10, 0 if none",
        "ndcg@10": "DCG@10 / ideal DCG@10, DCG = sum of grade / log2(rank + 1) (linear gain, every grade)",
        "recall@100": f"share of the query's passages at grade >= {relevance_threshold} within the top 100",
    }


def _in_run_order(results: dict[str, float]) -> list[str]:
    """The run's documents by descending score; ties keep the order the run lists them in."""
    for doc_id, score in results.items():
        if math.isnan(score):
            raise ValueError(f"run score for {doc_id!r} is NaN")
    return sorted(results, key=lambda doc_id: -results[doc_id])  # stable


def _discounted_gain(grades: list[int]) -> float:
    return sum(grade / math.log2(rank + 2) for rank, grade in enumerate(grades) if grade > 0)


def query_metrics(judged: dict[str, int], ranking: list[str], relevance_threshold: int) -> dict[str, float]:
    """The four metrics of one query: its judgments (passage -> grade) and the run's ranking of passages."""
    grades = [judged.get(doc_id, 0) for doc_id in ranking]
    relevant = [grade >= relevance_threshold for grade in grades]
    first = next((rank for rank, hit in enumerate(relevant[:MRR_CUTOFF], start=1) if hit), None)
    ideal = _discounted_gain(sorted(judged.values(), reverse=True)[:NDCG_CUTOFF])
    return {
        "hit@1": float(bool(relevant) and relevant[0]),
        "mrr@10": 1.0 / first if first else 0.0,
        "ndcg@10": _discounted_gain(grades[:NDCG_CUTOFF]) / ideal,
        "recall@100": sum(relevant[:RECALL_CUTOFF]) / sum(g >= relevance_threshold for g in judged.values()),
    }


def _bootstrap_samples(n_queries: int, samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_queries, size=(samples, n_queries))


def evaluate_run(
    qrels: dict[str, dict[str, int]],
    run: dict[str, dict[str, float]],
    relevance_threshold: int = 2,
    bootstrap_samples: int = 1000,
    seed: int = 0,
) -> dict[str, MetricResult]:
    """Score a run on `METRICS`, with per-query values and a 95% percentile-bootstrap interval for each.

    Queries evaluated are those in `qrels` with at least one passage at grade >= `relevance_threshold`; queries
    without one are excluded from every metric (TREC convention: a query with nothing to find cannot be scored,
    and counting it as 0 would only drag the average down). A judged query with no results in the run counts 0;
    run queries absent from the qrels are ignored. The bootstrap resamples the evaluated query ids (in sorted
    order) with replacement, `bootstrap_samples` times from `numpy.random.default_rng(seed)`, and uses the same
    resamples for every metric, so a seed reproduces the intervals exactly.
    """
    if relevance_threshold < 1:
        raise ValueError(f"relevance_threshold must be >= 1 (grade 0 means not relevant), got {relevance_threshold}")
    if bootstrap_samples < 1:
        raise ValueError(f"bootstrap_samples must be >= 1, got {bootstrap_samples}")
    query_ids = sorted(
        query_id for query_id, judged in qrels.items() if any(grade >= relevance_threshold for grade in judged.values())
    )
    if not query_ids:
        raise ValueError(f"no query in the qrels has a passage at grade >= {relevance_threshold}")

    per_query = {
        query_id: query_metrics(qrels[query_id], _in_run_order(run.get(query_id) or {}), relevance_threshold)
        for query_id in query_ids
    }
    samples = _bootstrap_samples(len(query_ids), bootstrap_samples, seed)
    results: dict[str, MetricResult] = {}
    for metric in METRICS:
        values = np.array([per_query[query_id][metric] for query_id in query_ids])
        low, high = np.percentile(values[samples].mean(axis=1), [2.5, 97.5])
        results[metric] = MetricResult(
            float(values.mean()), float(low), float(high), dict(zip(query_ids, values.tolist()))
        )
    return results


def paired_difference(a: MetricResult, b: MetricResult, bootstrap_samples: int = 1000, seed: int = 0) -> MetricResult:
    """a - b on the same queries, with a 95% percentile-bootstrap interval of the mean per-query difference.

    Paired, because two modes answer the same queries: an interval that excludes 0 is a real difference,
    overlapping marginal intervals are not evidence of no difference."""
    if set(a.per_query) != set(b.per_query):
        raise ValueError("paired_difference needs results on the same queries")
    query_ids = sorted(a.per_query)
    differences = np.array([a.per_query[q] - b.per_query[q] for q in query_ids])
    samples = _bootstrap_samples(len(query_ids), bootstrap_samples, seed)
    low, high = np.percentile(differences[samples].mean(axis=1), [2.5, 97.5])
    return MetricResult(float(differences.mean()), float(low), float(high), dict(zip(query_ids, differences.tolist())))


@dataclass
class EvaluationReport:
    """What a reader needs to trust or reproduce a table: which corpus, which judgments, which model, which command."""

    corpus: str
    corpus_size: int
    queries_evaluated: int
    model_id: str
    relevance_threshold: int
    date: str
    command: str
    results: dict[str, dict[str, MetricResult]]
    bootstrap_samples: int = 1000

    def to_dict(self, include_per_query: bool = False) -> dict:
        results = {}
        for mode, metrics in self.results.items():
            results[mode] = {}
            for metric in _ordered(metrics):
                value = metrics[metric]
                entry: dict = {"mean": value.mean, "ci_low": value.ci_low, "ci_high": value.ci_high}
                if include_per_query:
                    entry["per_query"] = dict(value.per_query)
                results[mode][metric] = entry
        return {
            "corpus": self.corpus,
            "corpus_size": self.corpus_size,
            "queries_evaluated": self.queries_evaluated,
            "model_id": self.model_id,
            "relevance_threshold": self.relevance_threshold,
            "metrics": metric_definitions(self.relevance_threshold),
            "bootstrap_samples": self.bootstrap_samples,
            "date": self.date,
            "command": self.command,
            "results": results,
        }

    def to_json(self, include_per_query: bool = False) -> str:
        """Per-query values are left out by default: they dwarf the summary and are only needed for paired tests."""
        return json.dumps(self.to_dict(include_per_query), indent=2) + "\n"

    def to_markdown(self) -> str:
        t = self.relevance_threshold
        header = (
            f"Corpus `{self.corpus}`: {self.corpus_size:,} passages, {self.queries_evaluated} queries evaluated. "
            f"Model `{self.model_id}`. Relevant means grade >= {t} for hit@1, MRR@10 and recall@100; nDCG@10 uses "
            f"the graded judgments (linear gain); queries with no passage at grade >= {t} are excluded. "
            f"Cells: mean [95% CI], percentile bootstrap over queries ({self.bootstrap_samples} resamples). "
            f"Date {self.date}.\n\n"
            f"Command: {_code(self.command)}\n"
        )
        rows = [
            "| mode | " + " | ".join(METRICS) + " |",
            "| --- | " + " | ".join("---:" for _ in METRICS) + " |",
        ]
        for mode, metrics in self.results.items():
            cells = [_cell(metrics[metric]) if metric in metrics else "n/a" for metric in METRICS]
            rows.append(f"| {mode} | " + " | ".join(cells) + " |")
        return header + "\n" + "\n".join(rows) + "\n"


def _ordered(metrics: dict[str, MetricResult]) -> list[str]:
    return [m for m in METRICS if m in metrics] + [m for m in metrics if m not in METRICS]


def _cell(result: MetricResult) -> str:
    return f"{result.mean:.3f} [{result.ci_low:.2f}, {result.ci_high:.2f}]"


def _code(text: str) -> str:
    return f"`` {text} ``" if "`" in text else f"`{text}`"
