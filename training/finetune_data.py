"""A versioned fine-tuning set for the embedding model, built from a judged BEIR corpus.

`python -m training.finetune_data` reads `DATA_DIR/retrieval/msmarco-trec-dl/` (corpus.jsonl, queries.jsonl,
qrels.tsv) and writes `ARTIFACTS_DIR/datasets/v<N>/`:

- `train.jsonl`: one (query, positive, negative) triplet a line, texts and ids
  (`query_id, anchor, positive_id, positive, positive_grade, negative_id, negative, negative_source,
  negative_bm25_rank`); the trainer uses the `anchor`, `positive` and `negative` columns;
- `validation.jsonl`, `test.jsonl`: one held-out query a line (`query_id, query, qrels`, the qrels being every
  graded judgment of the query, 0..3), to be evaluated by searching the WHOLE corpus (the corpus itself is not
  copied: the manifest names it and gives its files' sha256, so an evaluator checks it reads the same corpus);
- `manifest.json`: the source files and their sha256, the parameters (seed, split fractions, negatives method),
  the query ids of every split, counts, token-length percentiles of queries and passages measured with the base
  model's tokenizer, the `max_seq_length` they justify, and the sha256 of every file written beside it.

Method:
- positives: passages judged grade >= 2 (TREC DL's "relevant"), at most `max_positives_per_query` per query
  (grade 3 first, then a seeded shuffle): a few queries have 100+ relevant passages and would otherwise make most
  of the triplets, and with in-batch negatives a batch never holds one query twice, so a long tail of one query
  would train on tiny batches;
- hard negatives: for each training query, the passages ranked highest by BM25 (bm25s, Porter stemming, the
  serving settings k1=0.9, b=0.4) over the whole corpus among those judged 0 for the query or unjudged and in its
  BM25 top `bm25_depth`; passages judged 1 ("related") are never negatives (ambiguous), nor any passage judged >= 1.
  Each positive is paired with the next negative in that list, round robin. Grade-0 passages were pooled from
  strong retrievers, so they are hard and certified non-relevant; unjudged top BM25 hits are probably non-relevant
  (the TREC pools are deep) but not certainly;
  `negatives` restricts the pool to one source ("judged-0" or "bm25-unjudged") for experiments;
- synthetic pairs (`synthetic_pairs` > 0, default none): the inverse cloze task (Lee et al., 2019): a passage of
  three or more sentences gives a pseudo-query (one of its sentences, chosen with the seed) and a positive (the
  passage without that sentence); the negative is the pseudo-query's best BM25 hit other than the passage. No
  generator model is needed. Passages judged for a validation or test query are never used, so the held-out
  queries' labelled passages stay unseen as positives. Off by default: it did not help (docs/finetuning.md);
- splits are BY QUERY (a query, with all its passages, is in exactly one split): the sorted query ids shuffled
  with `random.Random(seed)`, cut at the fractions (43 queries -> 26 / 9 / 8).

How few that is: 43 queries in all. Nine validation or eight test queries give an nDCG@10 whose 95% bootstrap
interval spans roughly +-0.05..0.1, so only a large gain is distinguishable from noise, and 26 training queries
teach the model about 26 topics: the fine-tuned model may overfit them. Say so wherever a figure is reported.

Same inputs, parameters and seed give byte-identical files (no timestamps; the manifest is written with sorted
keys), and a build identical to an existing version returns that version instead of creating a new one.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ingestion.warehouse import sha256_file, sha256_of

log = logging.getLogger(__name__)

CORPUS_NAME = "msmarco-trec-dl"
SOURCE_FILES = ("corpus.jsonl", "queries.jsonl", "qrels.tsv")
SPLIT_FILES = ("train.jsonl", "validation.jsonl", "test.jsonl")
POSITIVE_GRADE = 2  # TREC DL: relevant means grade >= 2
SEQ_LENGTH_CHOICES = (64, 96, 128, 160, 192, 224, 256)  # 256: the base model's own max_seq_length
PERCENTILES = (50, 90, 95, 99)
VERSION_DIR = re.compile(r"v(\d+)")
NEGATIVE_MODES = ("mixed", "judged-0", "bm25-unjudged")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
ICT_MIN_SENTENCES = 3
ICT_MIN_WORDS = 4  # a shorter "sentence" (an abbreviation's tail, a list marker) is no query


def versions(folder: Path) -> list[tuple[int, Path]]:
    """(N, path) of every `v<N>` folder under `folder`, in ascending N."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := VERSION_DIR.fullmatch(p.name))]
    return sorted(found)


def latest_dataset(artifacts_dir: Path) -> Path:
    found = versions(Path(artifacts_dir) / "datasets")
    if not found:
        raise FileNotFoundError(f"no dataset under {Path(artifacts_dir) / 'datasets'}: run `python -m training.finetune_data`")
    return found[-1][1]


def publish_version(staging: Path, parent: Path) -> Path:
    """Rename a finished staging folder to the next free `v<N>` (atomic; retries if another process won N)."""
    for _ in range(100):
        number = (versions(parent)[-1][0] + 1) if versions(parent) else 1
        target = parent / f"v{number}"
        try:
            os.rename(staging, target)  # fails if target exists (non-empty), so two writers never share a version
            return target
        except OSError:
            if not target.exists():
                raise
    raise RuntimeError(f"could not claim a version folder under {parent}")


def verify_dataset(dataset_dir: Path) -> dict:
    """The manifest, after checking every file it lists has the recorded sha256."""
    manifest = json.loads((Path(dataset_dir) / "manifest.json").read_text())
    for name, expected in manifest["files"].items():
        actual = sha256_file(Path(dataset_dir) / name)
        if actual != expected["sha256"]:
            raise ValueError(f"{dataset_dir / name}: sha256 {actual} does not match the manifest ({expected['sha256']})")
    return manifest


# ---------------------------------------------------------------- reading


def _passage_text(title: str, text: str) -> str:
    """The text the platform embeds for a corpus passage (stg_corpus_passages): title + ' ' + text, or the text."""
    return text if not title.strip() else f"{title} {text}"


def read_corpus(folder: Path):
    from ingestion.corpora import parse_passages
    from serving.evaluation import read_beir_qrels, read_beir_queries

    passages = parse_passages(folder / "corpus.jsonl", (folder / "corpus.jsonl").read_bytes())
    ids = [pid for pid, _, _ in passages]
    texts = [_passage_text(title, text) for _, title, text in passages]
    queries = read_beir_queries(folder / "queries.jsonl")
    qrels = read_beir_qrels(folder / "qrels.tsv")
    known = set(ids)
    for query_id, judged in qrels.items():
        if query_id not in queries:
            raise ValueError(f"{folder / 'qrels.tsv'}: query {query_id!r} is not in queries.jsonl")
        missing = [pid for pid in judged if pid not in known]
        if missing:
            raise ValueError(f"{folder / 'qrels.tsv'}: query {query_id!r} judges passages not in the corpus: {missing[:3]}")
    return ids, texts, queries, qrels


# ---------------------------------------------------------------- building blocks


def split_queries(query_ids: list[str], seed: int, fractions: tuple[float, float, float]) -> dict[str, list[str]]:
    """Disjoint train / validation / test query ids: sorted, shuffled with the seed, cut at the fractions."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"splits must be three non-negative fractions summing to 1, got {fractions}")
    order = sorted(query_ids)
    random.Random(seed).shuffle(order)
    n_train = round(fractions[0] * len(order))
    n_validation = round(fractions[1] * len(order))
    if len(order) >= 3 and (n_train == 0 or n_validation == 0 or len(order) - n_train - n_validation <= 0):
        raise ValueError(f"{len(order)} queries are too few for the splits {fractions}")
    return {
        "train": sorted(order[:n_train]),
        "validation": sorted(order[n_train:n_train + n_validation]),
        "test": sorted(order[n_train + n_validation:]),
    }


def _bm25_rankings(texts: list[str], queries: list[str], depth: int, keep_scores: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per query: the indices of the top `depth` passages by BM25 (ties broken by corpus order), and for the first
    `keep_scores` queries every passage's score too (30,005 floats a query: not kept for thousands of them)."""
    from serving.retriever import BM25Index

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


def inverse_cloze_pairs(ids: list[str], texts: list[str], excluded: set[str], count: int,
                        seed: int) -> list[tuple[int, str, str]]:
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
        pairs.append((i, sentences[k], " ".join(sentences[:k] + sentences[k + 1:])))
    return pairs


def _token_lengths(tokenizer, texts: list[str]) -> np.ndarray:
    """Token count of each text with [CLS] and [SEP], untruncated: what max_seq_length has to cover."""
    lengths = []
    for start in range(0, len(texts), 2048):
        encoded = tokenizer(texts[start:start + 2048], add_special_tokens=True, truncation=False)["input_ids"]
        lengths.extend(len(ids) for ids in encoded)
    return np.asarray(lengths, dtype=np.int64)


def _summary(lengths: np.ndarray) -> dict:
    summary = {f"p{p}": int(np.ceil(np.percentile(lengths, p))) for p in PERCENTILES}
    summary.update(count=int(len(lengths)), mean=round(float(lengths.mean()), 1), max=int(lengths.max()))
    return summary


def choose_max_seq_length(passage_lengths: np.ndarray, base_max: int) -> dict:
    """The smallest of SEQ_LENGTH_CHOICES covering the passages' 99th percentile, capped at the base model's.

    Attention costs grow with the sequence; padding a batch to 256 when 99% of passages fit in less wastes most of a
    CPU step. Truncation only touches the last percent of passages, and only during training."""
    p99 = float(np.percentile(passage_lengths, 99))
    choice = next((c for c in SEQ_LENGTH_CHOICES if c >= p99), SEQ_LENGTH_CHOICES[-1])
    choice = min(choice, base_max)
    return {
        "value": int(choice),
        "rule": f"smallest of {list(SEQ_LENGTH_CHOICES)} >= the passages' p99 token length (with [CLS]/[SEP]), "
                f"capped at the base model's {base_max}; used for training only, the saved model keeps {base_max} "
                "so the index chunks texts exactly as with the base model",
        "passages_truncated_fraction": round(float((passage_lengths > choice).mean()), 4),
        "base_model_max_seq_length": int(base_max),
    }


def _jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


# ---------------------------------------------------------------- the build


def build_dataset(
    corpus_dir: Path | str,
    artifacts_dir: Path | str,
    seed: int = 0,
    splits: tuple[float, float, float] = (0.6, 0.2, 0.2),
    negatives_per_query: int = 16,
    bm25_depth: int = 100,
    max_positives_per_query: int = 32,
    negatives: str = "mixed",
    synthetic_pairs: int = 0,
) -> Path:
    """Build the fine-tuning set of a BEIR corpus folder into `artifacts_dir/datasets/v<N>/` and return that folder.

    If a version with identical files already exists it is returned instead (nothing new is written)."""
    from importlib.metadata import version

    from ingestion.embedding import load_tokenizer
    from ingestion.model_source import default_model_dir

    if negatives not in NEGATIVE_MODES:
        raise ValueError(f"negatives must be one of {NEGATIVE_MODES}, got {negatives!r}")
    if synthetic_pairs < 0:
        raise ValueError(f"synthetic_pairs must be >= 0, got {synthetic_pairs}")
    corpus_dir, artifacts_dir = Path(corpus_dir), Path(artifacts_dir)
    source_bytes = {name: (corpus_dir / name).read_bytes() for name in SOURCE_FILES}
    ids, texts, queries, qrels = read_corpus(corpus_dir)
    position = {pid: i for i, pid in enumerate(ids)}

    # only queries with something to find can be trained on or evaluated
    judged = sorted(q for q, j in qrels.items() if any(g >= POSITIVE_GRADE for g in j.values()))
    split = split_queries(judged, seed, splits)
    rng = random.Random(seed)

    train_queries = split["train"]
    held_out_passages = {pid for q in split["validation"] + split["test"] for pid in qrels[q]}
    synthetic = inverse_cloze_pairs(ids, texts, held_out_passages, synthetic_pairs, seed) if synthetic_pairs else []
    # one BM25 index for the real and the pseudo-queries
    scores, tops = _bm25_rankings(texts, [queries[q] for q in train_queries] + [q for _, q, _ in synthetic],
                                  bm25_depth, keep_scores=len(train_queries))
    tops, synthetic_tops = tops[:len(train_queries)], tops[len(train_queries):]
    triplets, negative_sources = [], {"judged-0": 0, "bm25-unjudged": 0, "bm25-synthetic": 0}
    positives_total, positives_dropped = 0, 0
    for query_id, query_scores, top in zip(train_queries, scores, tops):
        judgments = qrels[query_id]
        positives = sorted((pid for pid, g in judgments.items() if g >= POSITIVE_GRADE), key=position.__getitem__)
        rng.shuffle(positives)
        positives.sort(key=lambda pid: -judgments[pid])  # stable: grade 3 first, shuffled within a grade
        positives_total += len(positives)
        positives_dropped += max(0, len(positives) - max_positives_per_query)
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
            negative_sources[source] += 1
            triplets.append({
                "query_id": query_id,
                "anchor": queries[query_id],
                "positive_id": positive,
                "positive": texts[position[positive]],
                "positive_grade": judgments[positive],
                "negative_id": ids[negative],
                "negative": texts[negative],
                "negative_source": source,
                "negative_bm25_rank": rank_of.get(negative),  # None: judged 0 but beyond the BM25 top `bm25_depth`
            })

    for (source, pseudo_query, positive), top in zip(synthetic, synthetic_tops):
        negative = next((int(i) for i in top if int(i) != source), None)
        if negative is None:
            continue  # the pseudo-query shares no term with any other passage
        negative_sources["bm25-synthetic"] += 1
        triplets.append({
            "query_id": f"ict:{ids[source]}",
            "anchor": pseudo_query,
            "positive_id": ids[source],
            "positive": positive,
            "positive_grade": None,
            "negative_id": ids[negative],
            "negative": texts[negative],
            "negative_source": "bm25-synthetic",
            "negative_bm25_rank": next(r + 1 for r, i in enumerate(top) if int(i) == negative),
        })

    held_out = {
        name: [
            {"query_id": q, "query": queries[q], "qrels": {pid: qrels[q][pid] for pid in sorted(qrels[q], key=position.__getitem__)}}
            for q in split[name]
        ]
        for name in ("validation", "test")
    }
    contents = {
        "train.jsonl": _jsonl(triplets),
        "validation.jsonl": _jsonl(held_out["validation"]),
        "test.jsonl": _jsonl(held_out["test"]),
    }

    model_dir = default_model_dir()
    tokenizer = load_tokenizer(model_dir)
    base_max = json.loads((model_dir / "sentence_bert_config.json").read_text()).get("max_seq_length", 256)
    query_lengths = _token_lengths(tokenizer, [queries[q] for q in judged])
    passage_lengths = _token_lengths(tokenizer, texts)
    train_passage_lengths = _token_lengths(tokenizer, sorted({t["positive"] for t in triplets} | {t["negative"] for t in triplets}))

    manifest = {
        "dataset": "msmarco-trec-dl fine-tuning triplets",
        "source": {
            "corpus": corpus_dir.name,
            "files": {name: {"sha256": sha256_of(data), "bytes": len(data)} for name, data in source_bytes.items()},
            "passages": len(ids),
            "queries": len(queries),
            "judged_queries_with_a_positive": len(judged),
            "qrels": sum(len(j) for j in qrels.values()),
        },
        "seed": seed,
        "split": {
            "by": "query",
            "fractions": list(splits),
            "method": "sorted query ids shuffled with random.Random(seed), cut at the fractions",
            "query_ids": split,
            "counts": {name: len(split[name]) for name in split},
            "caveat": f"{len(judged)} queries in all: {len(split['validation'])} validation and {len(split['test'])} "
                      "test queries give metrics with wide bootstrap intervals (about +-0.05..0.1 nDCG@10); only a "
                      f"large gain is distinguishable from noise, and {len(split['train'])} training topics invite "
                      "overfitting",
        },
        "positives": {
            "rule": f"grade >= {POSITIVE_GRADE}, at most {max_positives_per_query} per query (grade 3 first, then seeded shuffle)",
            "max_per_query": max_positives_per_query,
            "train_judged": positives_total,
            "train_dropped_by_cap": positives_dropped,
        },
        "negatives": {
            "method": "per training query, the highest BM25 scores (bm25s, Porter stemmer, English stopwords, "
                      "k1/b of serving.retriever) over the whole corpus among passages judged 0 for the query or "
                      f"unjudged within its BM25 top {bm25_depth} (pool: {negatives}); passages judged >= 1 are "
                      "never negatives; positives take them round robin",
            "pool": negatives,
            "negatives_per_query": negatives_per_query,
            "bm25_depth": bm25_depth,
            "sources": negative_sources,
        },
        "synthetic_pairs": {
            "requested": synthetic_pairs,
            "written": negative_sources["bm25-synthetic"],
            "method": "none" if not synthetic_pairs else (
                f"inverse cloze task: passages with >= {ICT_MIN_SENTENCES} sentences of >= {ICT_MIN_WORDS} words, "
                "never judged for a validation or test query, sampled with the seed; pseudo-query = one sentence, "
                "positive = the rest, negative = the pseudo-query's best other BM25 hit"),
        },
        "counts": {
            "train_triplets": len(triplets),
            "train_queries": len({t["query_id"] for t in triplets if t["negative_source"] != "bm25-synthetic"}),
            "validation_queries": len(held_out["validation"]),
            "test_queries": len(held_out["test"]),
            "validation_qrels": sum(len(r["qrels"]) for r in held_out["validation"]),
            "test_qrels": sum(len(r["qrels"]) for r in held_out["test"]),
        },
        "token_lengths": {
            "tokenizer": "all-MiniLM-L6-v2 (the base model's), counts include [CLS] and [SEP], untruncated",
            "queries": _summary(query_lengths),
            "passages": _summary(passage_lengths),
            "train_passages": _summary(train_passage_lengths) if len(train_passage_lengths) else None,
        },
        "max_seq_length": choose_max_seq_length(passage_lengths, base_max),
        "libraries": {name: version(name) for name in ("bm25s", "PyStemmer", "tokenizers")},
        "files": {name: {"sha256": sha256_of(data), "lines": data.count(b"\n")} for name, data in contents.items()},
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")

    parent = artifacts_dir / "datasets"
    for _, existing in versions(parent):
        manifest_path = existing / "manifest.json"
        if manifest_path.is_file() and manifest_path.read_bytes() == manifest_bytes:
            try:
                verify_dataset(existing)
            except (ValueError, OSError):
                continue  # tampered or damaged: build a fresh version
            log.info("identical dataset already at %s: reusing it", existing)
            return existing

    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=parent))
    try:
        for name, data in contents.items():
            (staging / name).write_bytes(data)
        (staging / "manifest.json").write_bytes(manifest_bytes)
        target = publish_version(staging, parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("wrote %s: %d triplets from %d train queries, %d validation and %d test queries", target,
             len(triplets), len(split["train"]), len(split["validation"]), len(split["test"]))
    return target


def main(argv: list[str] | None = None) -> int:
    from ingestion.settings import Settings

    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus-dir", type=Path, default=settings.data_dir / "retrieval" / CORPUS_NAME)
    parser.add_argument("--artifacts-dir", type=Path, default=settings.artifacts_dir)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--negatives-per-query", type=int, default=16)
    parser.add_argument("--bm25-depth", type=int, default=100)
    parser.add_argument("--max-positives-per-query", type=int, default=32)
    parser.add_argument("--negatives", choices=NEGATIVE_MODES, default="mixed", help="hard-negative pool")
    parser.add_argument("--synthetic-pairs", type=int, default=0, help="inverse-cloze pairs to add (default none)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    folder = build_dataset(args.corpus_dir, args.artifacts_dir, seed=args.seed,
                           negatives_per_query=args.negatives_per_query, bm25_depth=args.bm25_depth,
                           max_positives_per_query=args.max_positives_per_query, negatives=args.negatives,
                           synthetic_pairs=args.synthetic_pairs)
    manifest = json.loads((folder / "manifest.json").read_text())
    print(folder)
    print(json.dumps({"counts": manifest["counts"], "split": manifest["split"]["counts"],
                      "token_lengths": manifest["token_lengths"], "max_seq_length": manifest["max_seq_length"]["value"]},
                     indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
