"""Retrieval evaluation on graded judgments, with ranx computing the metrics.

ranx does the arithmetic; this module pins down the conventions a bare `ranx.evaluate` call leaves open, so that
every figure the project reports means the same thing:

- relevance: hit@1, mrr@10 and recall@100 count a passage as relevant only at grade >= `relevance_threshold`
  (TREC DL: 2), through ranx's relevance-level suffix (`mrr@10-l2`); ndcg@10 uses the raw grades with linear gain
  (ranx `ndcg`, Järvelin & Kekäläinen, as trec_eval's ndcg_cut), not the exponential `ndcg_burges`;
- the evaluated query set: queries with at least one passage at the threshold; the others are excluded from every
  average (TREC convention), and judged queries the run left empty count 0;
- ties: documents with equal scores keep the order the run lists them in (ranx's own sort would break them
  arbitrarily);
- uncertainty: a 95% percentile-bootstrap interval over queries, deterministic for a seed.

Judgments and queries come from the warehouse (`corpus_queries` / `corpus_qrels`: serving.evaluate.judged_corpora);
the BEIR files themselves are read only by the landing (ingestion.corpora).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from numba.core.errors import NumbaTypeSafetyWarning
from ranx import Qrels, Run, evaluate

METRICS = ("hit@1", "mrr@10", "ndcg@10", "recall@100")

# display name -> ranx metric name; {level} is the relevance threshold (ranx parses "-lN" as "relevant if grade >= N").
# hit_rate@1 is 1 if a relevant passage is in the top 1, i.e. "is the top result relevant".
_RANX_NAMES = {
    "hit@1": "hit_rate@1-l{level}",
    "mrr@10": "mrr@10-l{level}",
    "ndcg@10": "ndcg@10",
    "recall@100": "recall@100-l{level}",
}


@dataclass(frozen=True)
class MetricResult:
    mean: float
    ci_low: float
    ci_high: float
    per_query: dict[str, float] = field(repr=False, compare=False)


def ranx_metric_names(relevance_threshold: int) -> dict[str, str]:
    """Exposed so a report or a test can state exactly what ranx was asked for."""
    return {metric: name.format(level=relevance_threshold) for metric, name in _RANX_NAMES.items()}


def _ranked(results: dict[str, float]) -> dict[str, float]:
    """Replace scores by distinct descending values, so ranx sees the run's own order, ties included."""
    for doc_id, score in results.items():
        if math.isnan(score):
            raise ValueError(f"run score for {doc_id!r} is NaN")
    ordered = sorted(results, key=lambda doc_id: -results[doc_id])  # stable: ties keep the run's order
    return {doc_id: float(len(ordered) - rank) for rank, doc_id in enumerate(ordered)}


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

    ranx_qrels = Qrels({query_id: {doc: int(g) for doc, g in qrels[query_id].items()} for query_id in query_ids})
    ranked = {query_id: _ranked(run[query_id]) for query_id in query_ids if run.get(query_id)}
    ranx_run = Run(ranked) if ranked else Run()  # Run({}) fails; make_comparable adds the empty queries
    names = ranx_metric_names(relevance_threshold)
    with warnings.catch_warnings():
        # ranx's parallel loops cast a uint64 index; harmless, but it would be printed on every call
        warnings.simplefilter("ignore", NumbaTypeSafetyWarning)
        # one thread: the metrics are cheap, and this keeps evaluation light on a shared machine
        evaluate(ranx_qrels, ranx_run, list(names.values()), make_comparable=True, threads=1)

    samples = _bootstrap_samples(len(query_ids), bootstrap_samples, seed)
    results: dict[str, MetricResult] = {}
    for metric, ranx_name in names.items():
        per_query = {query_id: float(ranx_run.scores[ranx_name][query_id]) for query_id in query_ids}
        values = np.array([per_query[query_id] for query_id in query_ids])
        low, high = np.percentile(values[samples].mean(axis=1), [2.5, 97.5])
        results[metric] = MetricResult(float(values.mean()), float(low), float(high), per_query)
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
            "ranx_metrics": ranx_metric_names(self.relevance_threshold),
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
