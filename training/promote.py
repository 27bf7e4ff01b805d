"""`make promote-model`: the fine-tuned candidate against the current model, and the promotion gate.

`python -m training.promote [--candidate DIR]` (default: the newest `artifacts/models/v<N>`) retrieves over the
**whole** corpus of the candidate's dataset, as DBT_TARGET's warehouse holds it, for its validation and
test queries (never trained on) with the current model (the baseline) and with the candidate: exact cosine search
over the corpus's chunks, a passage scored by its best chunk, top 100 (training.corpus_search), nDCG@10, MRR@10
and hit@1 with bootstrap intervals (search.evaluation). The warehouse must still hold the corpus version the
dataset was built from (its landed content hash, recorded in the manifest); it is refused otherwise.

The gate decides on validation only; test figures are reported, never used to decide. The candidate is
promoted when the paired bootstrap 95% interval of its nDCG@10 gain over the baseline lies above 0: a gain the
noise of 9 queries could not produce. Otherwise the baseline stays, which is a valid outcome, reported as
such. The training queries are scored too, as a diagnostic: a model that gains there and not on validation
learnt its topics, not the task. Every evaluated candidate gets an entry in `artifacts/registry.json` (dataset
and model versions, metrics per split for both models, decision, reason). Promotion switches
`artifacts/models/CURRENT` atomically (`embeddings.model_source.promote_model`); `resolve_model` follows it when
EMBEDDING_MODEL is empty, so the next `dbt build` re-embeds everything under the new model id and search uses it.

`--table` prints the registry as a markdown table (what docs/finetuning.md shows).

Corpus vectors: the baseline's come from the warehouse when it was built with the baseline (the usual case: the
baseline is the platform's model), so nothing of the corpus is encoded for it; a candidate's chunks are encoded
once (~5 minutes for the 30,005 passages on an idle 2-core machine) and cached under `artifacts/eval_cache/`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

from core.settings import Settings
from embeddings.model_source import ModelSourceError, ModelSpec, promote_model, resolve_model, settings_model
from search.evaluation import evaluate_run, paired_difference
from training.corpus_search import chunk_vectors, read_corpus_chunks, search_run
from training.judged_corpus import read_judged_corpus
from training.versions import verify_dataset, versions
from warehouse import LandingError, Warehouse, target_warehouse

DECISION_METRIC = "ndcg@10"
REPORTED = ("ndcg@10", "mrr@10", "hit@1")


def _summary(metrics: dict) -> dict:
    return {m: {"mean": metrics[m].mean, "ci_low": metrics[m].ci_low, "ci_high": metrics[m].ci_high} for m in REPORTED}


def evaluate_candidate(candidate_dir: Path, artifacts_dir: Path, baseline: ModelSpec, warehouse: Warehouse) -> dict:
    """Evaluate `candidate_dir` against `baseline` on the corpus its dataset was built from, as `warehouse` holds
    it; decide, record in `artifacts_dir`'s registry and (if better) promote. Returns the
    registry entry."""
    candidate_dir = Path(candidate_dir)
    training = json.loads((candidate_dir / "training.json").read_text())
    dataset_dir = Path(training["dataset"]["path"])
    manifest = verify_dataset(dataset_dir)
    corpus = read_judged_corpus(warehouse, manifest["source"]["corpus"], manifest["source"]["landed"]["content_hash"])
    chunks = read_corpus_chunks(warehouse, corpus.name, corpus.version)
    split_ids = manifest["split"]["query_ids"]
    splits = ("validation", "test", "train")  # train: a diagnostic (did it learn its topics?), never a decision input

    candidate = resolve_model(str(candidate_dir), artifacts_dir, baseline.backend)  # the same runtime as the baseline
    results: dict[str, dict] = {}
    per_split: dict[str, dict] = {}
    for name, spec in (("baseline", baseline), ("candidate", candidate)):
        vectors = chunk_vectors(spec, chunks, Path(artifacts_dir) / "eval_cache")
        for split in splits:
            split_queries = {q: corpus.queries[q] for q in split_ids[split]}
            run = search_run(spec, chunks, vectors, split_queries)
            metrics = evaluate_run({q: corpus.qrels[q] for q in split_queries}, run)
            per_split.setdefault(split, {})[name] = metrics
            results.setdefault(split, {})[name] = _summary(metrics)
    for split in splits:
        gain = paired_difference(
            per_split[split]["candidate"][DECISION_METRIC], per_split[split]["baseline"][DECISION_METRIC]
        )
        results[split]["gain_" + DECISION_METRIC.replace("@", "_at_")] = {
            "mean": gain.mean,
            "ci_low": gain.ci_low,
            "ci_high": gain.ci_high,
        }
    gain = results["validation"]["gain_ndcg_at_10"]
    promote = gain["ci_low"] > 0
    reason = (
        f"validation nDCG@10 gain {gain['mean']:+.3f}, paired 95% CI [{gain['ci_low']:+.3f}, {gain['ci_high']:+.3f}]: "
        + (
            "above 0, better than the noise"
            if promote
            else "includes or lies below 0, not distinguishable from the noise (or worse): the baseline stays"
        )
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
        "| model | dataset (negatives, synthetic) | epochs, scale, lr | steps, train s "
        "| validation nDCG@10 baseline -> candidate | validation gain [95% CI] "
        "| test nDCG@10 baseline -> candidate | test gain [95% CI] "
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
    parser.add_argument(
        "--table", action="store_true", help="print artifacts/registry.json as a markdown table and exit"
    )
    args = parser.parse_args(argv)
    if args.table:
        path = settings.artifacts_dir / "registry.json"
        if not path.is_file():
            print(f"[evaluate] error: no {path}: run make promote-model", file=sys.stderr)
            return 1
        print(registry_table(json.loads(path.read_text())["entries"]))
        return 0
    candidate = args.candidate
    if candidate is None:
        found = versions(settings.artifacts_dir / "models")
        if not found:
            models = settings.artifacts_dir / "models"
            print(f"[evaluate] error: no model under {models}: run make finetune", file=sys.stderr)
            return 1
        candidate = found[-1][1]
    try:
        warehouse = target_warehouse(settings)
        entry = evaluate_candidate(candidate, settings.artifacts_dir, settings_model(settings), warehouse)
    except (ValueError, FileNotFoundError, ModelSourceError, LandingError) as exc:
        print(f"[evaluate] error: {exc}", file=sys.stderr)
        return 1
    for split in entry["metrics"]:
        for name in ("baseline", "candidate"):
            cells = ", ".join(
                f"{m} {v['mean']:.3f} [{v['ci_low']:.2f}, {v['ci_high']:.2f}]"
                for m, v in entry["metrics"][split][name].items()
            )
            print(f"[evaluate] {split:<10} {name:<9} {cells}")
    print(f"[evaluate] {entry['decision'].upper()}: {entry['reason']}")
    print(f"[evaluate] recorded in {settings.artifacts_dir / 'registry.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
