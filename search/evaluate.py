"""`make evaluate-retrieval`: BM25, dense and hybrid search on every judged corpus, scored by search.evaluation.

`python -m search.evaluate [--output-dir DIR] [--corpus NAME]` searches the published index (what the
service serves) for each judged query of each corpus, top 100 within that corpus, and writes
`<corpus>.md` and `<corpus>.json` (hit@1, MRR@10, nDCG@10, recall@100 with bootstrap 95% intervals, the
model id, the corpus size) under OUTPUT_DIR/eval. Queries and judgments come from the warehouse's
`corpus_queries` / `corpus_qrels` marts (a short-lived read-only connection: run it after `dbt build`).
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from core.settings import Settings
from search.evaluation import METRICS, EvaluationReport, evaluate_run, paired_difference
from search.results import DEFAULT_MODE, MODES, RetrieverError
from search.retriever import Retriever
from warehouse import LandingError, Warehouse, target_warehouse

DEPTH = 100  # recall@100 needs 100 results per query


def judged_corpora(warehouse: Warehouse) -> dict[str, tuple[dict[str, str], dict[str, dict[str, int]]]]:
    """corpus -> (query id -> text, query id -> passage id -> grade), for corpora with judged queries; the
    fine-tuning data and its evaluation read their judgments here too (training.judged_corpus)."""
    warehouse.require_built()
    with warehouse.open(read_only=True) as con:
        queries = con.execute("select corpus, query_id, query_text from corpus_queries order by all").fetchall()
        qrels = con.execute("select corpus, query_id, passage_id, grade from corpus_qrels order by all").fetchall()
    corpora: dict[str, tuple[dict, dict]] = {}
    for corpus, query_id, text in queries:
        corpora.setdefault(corpus, ({}, {}))[0][query_id] = text
    for corpus, query_id, passage_id, grade in qrels:
        corpora.setdefault(corpus, ({}, {}))[1].setdefault(query_id, {})[passage_id] = grade
    return {corpus: judged for corpus, judged in corpora.items() if judged[0] and judged[1]}


def evaluate_corpus(
    retriever: Retriever, corpus: str, queries: dict[str, str], qrels: dict[str, dict[str, int]], command: str
) -> tuple[EvaluationReport, dict[str, list[float]]]:
    """One report for a corpus, and each mode's per-query search latencies (ms)."""
    corpus_size = len(set(retriever.index.result_ids[retriever.index.doc_ids == corpus]))
    results, latencies = {}, {}
    for mode in MODES:
        run, seconds = {}, []
        for query_id, text in queries.items():
            started = time.perf_counter()
            found = retriever.search(text, DEPTH, mode=mode, source="corpus", doc_id=corpus)
            seconds.append(1000 * (time.perf_counter() - started))
            run[query_id] = {r.document_id: r.score for r in found}
        results[mode] = evaluate_run(qrels, run)
        latencies[mode] = seconds
    report = EvaluationReport(
        corpus=corpus,
        corpus_size=corpus_size,
        queries_evaluated=len(next(iter(results.values()))["hit@1"].per_query),
        model_id=", ".join(retriever.index.model_ids),
        relevance_threshold=2,
        date=datetime.date.today().isoformat(),
        command=command,
        results=results,
    )
    return report, latencies


def differences_markdown(report: EvaluationReport, baseline: str = DEFAULT_MODE) -> str:
    """Each other mode minus the default mode, paired per query: is the default really the best choice?"""
    rows = [
        f"\nPaired difference to the default mode `{baseline}` (mean per-query difference [95% bootstrap CI]; an "
        "interval excluding 0 is a real difference):\n",
        "| mode | " + " | ".join(METRICS) + " |",
        "| --- | " + " | ".join("---:" for _ in METRICS) + " |",
    ]
    for mode, metrics in report.results.items():
        if mode != baseline:
            cells = []
            for metric in METRICS:
                d = paired_difference(metrics[metric], report.results[baseline][metric])
                cells.append(f"{d.mean:+.3f} [{d.ci_low:+.2f}, {d.ci_high:+.2f}]")
            rows.append(f"| {mode} - {baseline} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m search.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=settings.output_dir / "eval")
    parser.add_argument("--corpus", action="append", help="only these corpora (default: every judged corpus)")
    args = parser.parse_args(argv)
    command = shlex.join(["python", "-m", "search.evaluate", *(sys.argv[1:] if argv is None else argv)])
    try:
        warehouse = target_warehouse(settings)
        corpora = judged_corpora(warehouse)
        retriever = Retriever(query_cache_size=0)  # the latencies below include encoding every query
    except (RetrieverError, LandingError) as exc:
        print(f"[eval] error: {exc}", file=sys.stderr)
        return 1
    if args.corpus:
        unknown = sorted(set(args.corpus) - set(corpora))
        if unknown:
            print(
                f"[eval] error: no judged corpus named {', '.join(unknown)} (have: {', '.join(corpora)})",
                file=sys.stderr,
            )
            return 1
        corpora = {name: corpora[name] for name in args.corpus}
    if not corpora:
        print(f"[eval] no corpus with queries and qrels in {warehouse}: nothing to evaluate")
        return 0
    retriever.warm_up()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for corpus, (queries, qrels) in corpora.items():
        print(f"[eval] {corpus}: {len(queries)} queries, {len(qrels)} judged, modes {', '.join(MODES)}")
        report, latencies = evaluate_corpus(retriever, corpus, queries, qrels, command)
        markdown = report.to_markdown() + differences_markdown(report)
        markdown += "\nSearch latency per query (top 100, query encoding included), ms:\n\n"
        markdown += "| mode | p50 | p95 |\n| --- | ---: | ---: |\n" + "".join(
            f"| {mode} | {np.percentile(ms, 50):.1f} | {np.percentile(ms, 95):.1f} |\n"
            for mode, ms in latencies.items()
        )
        (args.output_dir / f"{corpus}.md").write_text(markdown)
        (args.output_dir / f"{corpus}.json").write_text(report.to_json())
        print(markdown)
        print(f"[eval] wrote {args.output_dir / f'{corpus}.md'} and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
