"""`make evaluate`: the fine-tuned candidate against the current model, and the promotion gate.

`python -m training.promote [--candidate DIR] [--corpus-dir DIR]` (default: the newest `artifacts/models/v<N>`)
retrieves over the **whole** corpus of the candidate's dataset for its validation and test queries (never
trained on) with the current model (the baseline) and with the candidate: exact cosine search, top 100,
nDCG@10, MRR@10 and hit@1 with bootstrap intervals (serving.evaluation, ranx).

The gate decides on validation only; test figures are reported, never used to decide. The candidate is
promoted when the paired bootstrap 95% interval of its nDCG@10 gain over the baseline lies above 0: a gain the
noise of 9 queries could not produce. Otherwise the baseline stays, which is a valid outcome, reported as
such. The training queries are scored too, as a diagnostic: a model that gains there and not on validation
learnt its topics, not the task. Every evaluated candidate gets an entry in `artifacts/registry.json` (dataset
and model versions, metrics per split for both models, decision, reason). Promotion switches `artifacts/models/CURRENT`
atomically (`ingestion.model_source.promote_model`); `resolve_model` follows it when EMBEDDING_MODEL is empty, so the next
`dbt build` re-embeds everything under the new model id and search uses it.

`--table` prints the registry as a markdown table (what docs/finetuning.md shows).

Corpus vectors are cached per (model id, corpus hash) under `artifacts/eval_cache/`: the baseline's 30,005
passages are encoded once (~5 minutes on an idle 2-core machine), a candidate's once per candidate.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

import numpy as np

from ingestion.embedding import encode_texts
from ingestion.model_source import ModelSourceError, ModelSpec, promote_model, resolve_model
from ingestion.settings import Settings
from serving.evaluation import evaluate_run, paired_difference
from ingestion.warehouse import sha256_file
from training.finetune_data import read_corpus, verify_dataset, versions

DEPTH = 100
DECISION_METRIC = "ndcg@10"
REPORTED = ("ndcg@10", "mrr@10", "hit@1")


def corpus_vectors(spec: ModelSpec, texts: list[str], corpus_hash: str, cache_dir: Path) -> np.ndarray:
    """Unit vectors of every passage, cached per (model id, corpus hash)."""
    path = cache_dir / f"{spec.model_id.replace('/', '_')}-{corpus_hash[:12]}.npy"
    if path.is_file():
        vectors = np.load(path)
        if vectors.shape[0] == len(texts):
            return vectors
    print(f"[evaluate] encoding {len(texts):,} passages with {spec.model_id}")
    vectors = encode_texts(spec, texts, progress=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(staging, vectors)
    os.replace(staging, path)
    return vectors


def search_run(spec: ModelSpec, vectors: np.ndarray, ids: list[str], queries: dict[str, str]) -> dict[str, dict[str, float]]:
    query_ids = sorted(queries)
    query_vectors = encode_texts(spec, [queries[q] for q in query_ids], progress=False)
    scores = query_vectors @ vectors.T
    run = {}
    for row, query_id in enumerate(query_ids):
        top = np.argsort(-scores[row], kind="stable")[:DEPTH]
        run[query_id] = {ids[i]: float(scores[row, i]) for i in top}
    return run


def _summary(metrics: dict) -> dict:
    return {m: {"mean": metrics[m].mean, "ci_low": metrics[m].ci_low, "ci_high": metrics[m].ci_high} for m in REPORTED}


def candidate_corpus(candidate_dir: Path) -> str:
    """The name of the corpus the candidate's dataset was built from."""
    training = json.loads((Path(candidate_dir) / "training.json").read_text())
    return json.loads((Path(training["dataset"]["path"]) / "manifest.json").read_text())["source"]["corpus"]


def evaluate_candidate(candidate_dir: Path, artifacts_dir: Path, baseline: ModelSpec, corpus_dir: Path) -> dict:
    """Evaluate `candidate_dir` against `baseline` on the corpus its dataset was built from, decide, record in
    `artifacts_dir`'s registry and (if better) promote. Returns the registry entry."""
    candidate_dir, corpus_dir = Path(candidate_dir), Path(corpus_dir)
    training = json.loads((candidate_dir / "training.json").read_text())
    dataset_dir = Path(training["dataset"]["path"])
    manifest = verify_dataset(dataset_dir)
    for name, expected in manifest["source"]["files"].items():
        if sha256_file(corpus_dir / name) != expected["sha256"]:
            raise ValueError(f"{corpus_dir / name} is not the file dataset {dataset_dir.name} was built from")
    ids, texts, queries, qrels = read_corpus(corpus_dir)
    corpus_hash = manifest["source"]["files"]["corpus.jsonl"]["sha256"]
    split_ids = manifest["split"]["query_ids"]
    splits = ("validation", "test", "train")  # train: a diagnostic (did it learn its topics?), never a decision input

    candidate = resolve_model(str(candidate_dir), artifacts_dir)
    cache = artifacts_dir / "eval_cache"
    results: dict[str, dict] = {}
    per_split: dict[str, dict] = {}
    for name, spec in (("baseline", baseline), ("candidate", candidate)):
        vectors = corpus_vectors(spec, texts, corpus_hash, cache)
        for split in splits:
            split_queries = {q: queries[q] for q in split_ids[split]}
            metrics = evaluate_run({q: qrels[q] for q in split_queries}, search_run(spec, vectors, ids, split_queries))
            per_split.setdefault(split, {})[name] = metrics
            results.setdefault(split, {})[name] = _summary(metrics)
    for split in splits:
        gain = paired_difference(per_split[split]["candidate"][DECISION_METRIC], per_split[split]["baseline"][DECISION_METRIC])
        results[split]["gain_" + DECISION_METRIC.replace("@", "_at_")] = {
            "mean": gain.mean, "ci_low": gain.ci_low, "ci_high": gain.ci_high
        }
    gain = results["validation"]["gain_ndcg_at_10"]
    promote = gain["ci_low"] > 0
    reason = (
        f"validation nDCG@10 gain {gain['mean']:+.3f}, paired 95% CI [{gain['ci_low']:+.3f}, {gain['ci_high']:+.3f}]: "
        + ("above 0, better than the noise" if promote else "includes or lies below 0, not distinguishable from "
           "the noise (or worse): the baseline stays")
    )
    entry = {
        "evaluated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "dataset_version": dataset_dir.name,
        "model_version": candidate_dir.name,
        "model_dir": str(candidate_dir),
        "baseline_model_id": baseline.model_id,
        "candidate_model_id": candidate.model_id,
        "queries": {split: len(split_ids[split]) for split in splits},
        "metrics": results,
        "decision": "promoted" if promote else "rejected",
        "reason": reason,
    }
    record(entry, artifacts_dir)
    if promote:
        promote_model(candidate_dir, artifacts_dir)
    return entry


def record(entry: dict, artifacts_dir: Path) -> None:
    """Append to artifacts/registry.json, rewritten atomically."""
    path = artifacts_dir / "registry.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    registry = json.loads(path.read_text()) if path.is_file() else {"entries": []}
    registry["entries"].append(entry)
    staging = path.with_name(f".registry.{os.getpid()}.tmp")
    staging.write_text(json.dumps(registry, indent=2) + "\n")
    os.replace(staging, path)


def registry_table(entries: list[dict]) -> str:
    """The registry as a markdown table, one row per evaluated candidate, with what it was trained on and how
    (read from the candidate's training.json and its dataset's manifest when they are still on disk)."""

    def cell(metric: dict) -> str:
        return f"{metric['mean']:.3f}"

    def number(value) -> str:
        return f"{value:g}" if isinstance(value, (int, float)) else "?"

    def ci(metric: dict) -> str:
        return f"{metric['mean']:+.3f} [{metric['ci_low']:+.3f}, {metric['ci_high']:+.3f}]"

    lines = [
        "| model | dataset (negatives, synthetic) | epochs, scale, lr | steps, train s | validation nDCG@10 baseline -> candidate "
        "| validation gain [95% CI] | test nDCG@10 baseline -> candidate | test gain [95% CI] "
        "| training queries gain (diagnostic) | decision |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        training_path = Path(e["model_dir"]) / "training.json"
        training = json.loads(training_path.read_text()) if training_path.is_file() else {}
        hp = training.get("hyper_parameters", {})
        manifest_path = Path(training.get("dataset", {}).get("path", "-")) / "manifest.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
        pool = manifest.get("negatives", {}).get("pool", "mixed") if manifest else "?"
        synthetic = manifest.get("synthetic_pairs", {}).get("written", 0) if manifest else "?"
        v, t = e["metrics"]["validation"], e["metrics"]["test"]
        lines.append(
            f"| {e['model_version']} | {e['dataset_version']} ({pool}, {synthetic}) "
            f"| {number(hp.get('epochs'))}, {number(hp.get('loss_scale', 20))}, {number(hp.get('learning_rate'))} "
            f"| {training.get('steps', '?')}, {training.get('wall_time_s', '?')} "
            f"| {cell(v['baseline']['ndcg@10'])} -> {cell(v['candidate']['ndcg@10'])} | {ci(v['gain_ndcg_at_10'])} "
            f"| {cell(t['baseline']['ndcg@10'])} -> {cell(t['candidate']['ndcg@10'])} | {ci(t['gain_ndcg_at_10'])} "
            f"| {ci(e['metrics']['train']['gain_ndcg_at_10']) if 'train' in e['metrics'] else '-'} | {e['decision']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m training.promote", description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", type=Path, help="a model folder (default: the newest artifacts/models/v<N>)")
    parser.add_argument("--corpus-dir", type=Path, help="the dataset's corpus (default: DATA_DIR/retrieval/<corpus>)")
    parser.add_argument("--table", action="store_true", help="print artifacts/registry.json as a markdown table and exit")
    args = parser.parse_args(argv)
    if args.table:
        path = settings.artifacts_dir / "registry.json"
        if not path.is_file():
            print(f"[evaluate] error: no {path}: run make evaluate", file=sys.stderr)
            return 1
        print(registry_table(json.loads(path.read_text())["entries"]))
        return 0
    candidate = args.candidate
    if candidate is None:
        found = versions(settings.artifacts_dir / "models")
        if not found:
            print(f"[evaluate] error: no model under {settings.artifacts_dir / 'models'}: run make train", file=sys.stderr)
            return 1
        candidate = found[-1][1]
    try:
        corpus_dir = args.corpus_dir or settings.data_dir / "retrieval" / candidate_corpus(candidate)
        entry = evaluate_candidate(candidate, settings.artifacts_dir, settings.embedding_spec(), corpus_dir)
    except (ValueError, FileNotFoundError, ModelSourceError) as exc:
        print(f"[evaluate] error: {exc}", file=sys.stderr)
        return 1
    for split in entry["metrics"]:
        for name in ("baseline", "candidate"):
            cells = ", ".join(
                f"{m} {v['mean']:.3f} [{v['ci_low']:.2f}, {v['ci_high']:.2f}]" for m, v in entry["metrics"][split][name].items()
            )
            print(f"[evaluate] {split:<10} {name:<9} {cells}")
    print(f"[evaluate] {entry['decision'].upper()}: {entry['reason']}")
    print(f"[evaluate] recorded in {settings.artifacts_dir / 'registry.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
