"""A versioned fine-tuning set for the embedding model, built from a judged corpus in the warehouse.

`python -m training.finetune_data [--corpus msmarco-trec-dl]` reads the corpus from the warehouse at DUCKDB_PATH
(training.judged_corpus: passages as `stg_corpus_passages` builds their text, queries and judgments from the
`corpus_queries` / `corpus_qrels` marts, lineage from `raw.landed_files`), so the corpus must be landed and built
first (`DATA_DIR=../shared/data make run`; it says so when it is not), and writes `ARTIFACTS_DIR/datasets/v<N>/`:

- `train.jsonl`: one (query, positive, negative) triplet a line, texts and ids
  (`query_id, anchor, positive_id, positive, positive_grade, negative_id, negative, negative_source,
  negative_bm25_rank`); the trainer uses the `anchor`, `positive` and `negative` columns;
- `validation.jsonl`, `test.jsonl`: one held-out query a line (`query_id, query, qrels`, the qrels being every
  graded judgment of the query, 0..3), to be evaluated by searching the WHOLE corpus (the corpus itself is not
  copied: the manifest names it and its landed version, and evaluation checks the warehouse still holds it);
- `manifest.json`: the source (corpus, its landed files and their content hash from `raw.landed_files`), the
  parameters (seed, split fractions, negatives method), the query ids of every split, counts, token-length
  percentiles of queries and passages measured with the base model's tokenizer, the `max_seq_length` they
  justify, and the sha256 of every file written beside it.

Method (the steps of `build_dataset`: read, split the queries, mine hard negatives, add synthetic pairs, write):
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
The triplets' rules live in training.triplets.

How few that is: 43 queries in all. Nine validation or eight test queries give an nDCG@10 whose 95% bootstrap
interval spans roughly +-0.05..0.1, so only a large gain is distinguishable from noise, and 26 training queries
teach the model about 26 topics: the fine-tuned model may overfit them. Say so wherever a figure is reported.

Same corpus version, parameters and seed give byte-identical files (no timestamps, no paths; the manifest is
written with sorted keys), and a build identical to an existing version returns that version instead of creating
a new one.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from core.files import sha256_of
from core.settings import Settings
from training.judged_corpus import CorpusUnavailable, JudgedCorpus, read_judged_corpus
from training.token_lengths import token_length_figures
from training.triplets import (
    ICT_MIN_SENTENCES,
    ICT_MIN_WORDS,
    NEGATIVE_MODES,
    POSITIVE_GRADE,
    Triplets,
    add_synthetic_triplets,
    bm25_rankings,
    inverse_cloze_pairs,
    mine_hard_negatives,
)
from training.versions import write_dataset_version
from warehouse import LandingError, Warehouse, target_warehouse

log = logging.getLogger(__name__)

CORPUS_NAME = "msmarco-trec-dl"


@dataclass(frozen=True)
class DatasetParameters:
    seed: int = 0
    splits: tuple[float, float, float] = (0.6, 0.2, 0.2)
    negatives_per_query: int = 16
    bm25_depth: int = 100
    max_positives_per_query: int = 32
    negatives: str = "mixed"
    synthetic_pairs: int = 0

    def __post_init__(self):
        if self.negatives not in NEGATIVE_MODES:
            raise ValueError(f"negatives must be one of {NEGATIVE_MODES}, got {self.negatives!r}")
        if self.synthetic_pairs < 0:
            raise ValueError(f"synthetic_pairs must be >= 0, got {self.synthetic_pairs}")


# ---------------------------------------------------------------- the steps


def queries_with_a_positive(qrels: dict[str, dict[str, int]]) -> list[str]:
    """Only queries with something to find can be trained on or evaluated."""
    return sorted(q for q, judged in qrels.items() if any(g >= POSITIVE_GRADE for g in judged.values()))


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
        "validation": sorted(order[n_train : n_train + n_validation]),
        "test": sorted(order[n_train + n_validation :]),
    }


def make_triplets(corpus: JudgedCorpus, split: dict[str, list[str]], params: DatasetParameters) -> Triplets:
    """The training queries' triplets with mined hard negatives, then the synthetic pairs (one BM25 index for the
    real and the pseudo-queries)."""
    train = split["train"]
    held_out_passages = {pid for q in split["validation"] + split["test"] for pid in corpus.qrels[q]}
    pairs = (
        inverse_cloze_pairs(corpus.ids, corpus.texts, held_out_passages, params.synthetic_pairs, params.seed)
        if params.synthetic_pairs
        else []
    )
    scores, tops = bm25_rankings(
        corpus.texts,
        [corpus.queries[q] for q in train] + [q for _, q, _ in pairs],
        params.bm25_depth,
        keep_scores=len(train),
    )
    triplets = mine_hard_negatives(
        corpus,
        train,
        scores,
        tops[: len(train)],
        params.negatives,
        params.negatives_per_query,
        params.max_positives_per_query,
        params.seed,
    )
    add_synthetic_triplets(triplets, corpus, pairs, tops[len(train) :])
    return triplets


def held_out_rows(corpus: JudgedCorpus, query_ids: list[str]) -> list[dict]:
    """One row per held-out query with every graded judgment, passages in corpus order."""
    position = {pid: i for i, pid in enumerate(corpus.ids)}
    return [
        {
            "query_id": q,
            "query": corpus.queries[q],
            "qrels": {pid: corpus.qrels[q][pid] for pid in sorted(corpus.qrels[q], key=position.__getitem__)},
        }
        for q in query_ids
    ]


def _jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


# ---------------------------------------------------------------- the manifest and the build


def dataset_manifest(
    corpus: JudgedCorpus,
    judged: list[str],
    split: dict[str, list[str]],
    triplets: Triplets,
    contents: dict[str, bytes],
    params: DatasetParameters,
) -> dict:
    from importlib.metadata import version

    p = params
    return {
        "dataset": f"{corpus.name} fine-tuning triplets",
        "source": {
            "corpus": corpus.name,
            "landed": corpus.landed,
            "passages": len(corpus.ids),
            "queries": len(corpus.queries),
            "judged_queries_with_a_positive": len(judged),
            "qrels": sum(len(j) for j in corpus.qrels.values()),
        },
        "seed": p.seed,
        "split": {
            "by": "query",
            "fractions": list(p.splits),
            "method": "sorted query ids shuffled with random.Random(seed), cut at the fractions",
            "query_ids": split,
            "counts": {name: len(split[name]) for name in split},
            "caveat": f"{len(judged)} queries in all: {len(split['validation'])} validation and {len(split['test'])} "
            "test queries give metrics with wide bootstrap intervals (about +-0.05..0.1 nDCG@10); only a "
            f"large gain is distinguishable from noise, and {len(split['train'])} training topics invite "
            "overfitting",
        },
        "positives": {
            "rule": f"grade >= {POSITIVE_GRADE}, at most {p.max_positives_per_query} per query "
            "(grade 3 first, then seeded shuffle)",
            "max_per_query": p.max_positives_per_query,
            "train_judged": triplets.positives_judged,
            "train_dropped_by_cap": triplets.positives_dropped,
        },
        "negatives": {
            "method": "per training query, the highest BM25 scores (bm25s, Porter stemmer, English stopwords, "
            "k1/b of search.bm25) over the whole corpus among passages judged 0 for the query or "
            f"unjudged within its BM25 top {p.bm25_depth} (pool: {p.negatives}); passages judged >= 1 are "
            "never negatives; positives take them round robin",
            "pool": p.negatives,
            "negatives_per_query": p.negatives_per_query,
            "bm25_depth": p.bm25_depth,
            "sources": triplets.negative_sources,
        },
        "synthetic_pairs": {
            "requested": p.synthetic_pairs,
            "written": triplets.negative_sources["bm25-synthetic"],
            "method": "none"
            if not p.synthetic_pairs
            else (
                f"inverse cloze task: passages with >= {ICT_MIN_SENTENCES} sentences of >= {ICT_MIN_WORDS} words, "
                "never judged for a validation or test query, sampled with the seed; pseudo-query = one sentence, "
                "positive = the rest, negative = the pseudo-query's best other BM25 hit"
            ),
        },
        "counts": {
            "train_triplets": len(triplets.rows),
            "train_queries": len({t["query_id"] for t in triplets.rows if t["negative_source"] != "bm25-synthetic"}),
            "validation_queries": len(split["validation"]),
            "test_queries": len(split["test"]),
            "validation_qrels": sum(len(corpus.qrels[q]) for q in split["validation"]),
            "test_qrels": sum(len(corpus.qrels[q]) for q in split["test"]),
        },
        **token_length_figures(corpus, judged, triplets),
        "libraries": {name: version(name) for name in ("bm25s", "PyStemmer", "tokenizers")},
        "files": {name: {"sha256": sha256_of(data), "lines": data.count(b"\n")} for name, data in contents.items()},
    }


def build_dataset(
    warehouse: Warehouse,
    artifacts_dir: Path | str,
    corpus: str = CORPUS_NAME,
    seed: int = 0,
    splits: tuple[float, float, float] = (0.6, 0.2, 0.2),
    negatives_per_query: int = 16,
    bm25_depth: int = 100,
    max_positives_per_query: int = 32,
    negatives: str = "mixed",
    synthetic_pairs: int = 0,
) -> Path:
    """Build the fine-tuning set of a corpus landed and built in `warehouse` into
    `artifacts_dir/datasets/v<N>/` and return that folder.

    If a version with identical files already exists it is returned instead (nothing new is written)."""
    params = DatasetParameters(
        seed, tuple(splits), negatives_per_query, bm25_depth, max_positives_per_query, negatives, synthetic_pairs
    )
    judged_corpus = read_judged_corpus(warehouse, corpus)
    judged = queries_with_a_positive(judged_corpus.qrels)
    split = split_queries(judged, seed, params.splits)
    triplets = make_triplets(judged_corpus, split, params)
    contents = {"train.jsonl": _jsonl(triplets.rows)}
    contents.update(
        {f"{name}.jsonl": _jsonl(held_out_rows(judged_corpus, split[name])) for name in ("validation", "test")}
    )
    manifest = dataset_manifest(judged_corpus, judged, split, triplets, contents, params)
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    target = write_dataset_version(contents, manifest_bytes, Path(artifacts_dir) / "datasets")
    log.info(
        "%s: %d triplets from %d train queries, %d validation and %d test queries",
        target,
        len(triplets.rows),
        len(split["train"]),
        len(split["validation"]),
        len(split["test"]),
    )
    return target


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    defaults = DatasetParameters()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=CORPUS_NAME, help="a judged corpus landed in the warehouse")
    parser.add_argument("--artifacts-dir", type=Path, default=settings.artifacts_dir)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--negatives-per-query", type=int, default=defaults.negatives_per_query)
    parser.add_argument("--bm25-depth", type=int, default=defaults.bm25_depth)
    parser.add_argument("--max-positives-per-query", type=int, default=defaults.max_positives_per_query)
    parser.add_argument("--negatives", choices=NEGATIVE_MODES, default=defaults.negatives, help="hard-negative pool")
    parser.add_argument(
        "--synthetic-pairs",
        type=int,
        default=defaults.synthetic_pairs,
        help="inverse-cloze pairs to add (default none)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        folder = build_dataset(
            target_warehouse(settings),
            args.artifacts_dir,
            corpus=args.corpus,
            seed=args.seed,
            negatives_per_query=args.negatives_per_query,
            bm25_depth=args.bm25_depth,
            max_positives_per_query=args.max_positives_per_query,
            negatives=args.negatives,
            synthetic_pairs=args.synthetic_pairs,
        )
    except (CorpusUnavailable, LandingError) as exc:
        print(f"[data] error: {exc}", file=sys.stderr)
        return 1
    manifest = json.loads((folder / "manifest.json").read_text())
    print(folder)
    print(
        json.dumps(
            {
                "counts": manifest["counts"],
                "split": manifest["split"]["counts"],
                "token_lengths": manifest["token_lengths"],
                "max_seq_length": manifest["max_seq_length"]["value"],
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
