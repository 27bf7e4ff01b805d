"""Fine-tuning data and training end to end, on a small real subset of msmarco-trec-dl (a few steps only),
landed and built into a scratch warehouse as `make run` does with the whole corpus."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from core.files import sha256_file, sha256_of
from landing.corpora import read_beir_folder
from tests.support.data import REAL_CORPUS, SEARCH_TEST_QUERY_IDS, write_corpus_subset
from tests.support.warehouses import Dbt, query
from training.finetune_data import build_dataset, split_queries
from training.judged_corpus import CorpusUnavailable, read_judged_corpus
from training.versions import verify_dataset
from warehouse import DuckDBWarehouse

# eight real judged queries: the five of the search tests and three more
QUERY_IDS = SEARCH_TEST_QUERY_IDS + ("104861", "130510", "131843")
OTHER_PASSAGES = 300  # unjudged passages beside the judged ones, as BM25 distractors


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


CORPUS = "msmarco-trec-dl"
# what the dataset and its evaluation read: the staged passages, the judgment marts, the corpus's chunks and vectors
MODELS = ("+search_chunks", "+corpus_queries", "+corpus_qrels")


@dataclass(frozen=True)
class Subset:
    folder: Path  # the BEIR files, as landed
    warehouse: DuckDBWarehouse

    def judgments(self) -> dict[str, dict[str, int]]:
        """The files' judgments, read by the landing's own reader: what the warehouse must reproduce."""
        return read_beir_folder(self.folder).judgments()


def land_and_build(data_dir: Path, warehouse: DuckDBWarehouse, target: Path) -> None:
    from landing.land import land_all

    land_all(data_dir, warehouse)
    Dbt(warehouse, target)("run", "--select", *MODELS)


@pytest.fixture(scope="module")
def subset(tmp_path_factory) -> Subset:
    root = tmp_path_factory.mktemp("finetune")
    folder = write_corpus_subset(root / "data" / "retrieval" / CORPUS, QUERY_IDS)
    kept = {json.loads(line)["_id"] for line in (folder / "corpus.jsonl").read_text().split("\n") if line}
    extra = []
    for line in (REAL_CORPUS / "corpus.jsonl").read_bytes().split(b"\n"):  # '\n' only: texts hold U+2028
        if line and json.loads(line)["_id"] not in kept:
            extra.append(line + b"\n")
            if len(extra) == OTHER_PASSAGES:
                break
    with open(folder / "corpus.jsonl", "ab") as handle:
        handle.write(b"".join(extra))
    warehouse = DuckDBWarehouse(root / "warehouse.duckdb")
    land_and_build(root / "data", warehouse, root / "target")
    return Subset(folder, warehouse)


@pytest.fixture(scope="module")
def built(subset: Subset, tmp_path_factory) -> tuple[Path, Path]:
    artifacts = tmp_path_factory.mktemp("artifacts")
    dataset = build_dataset(subset.warehouse, artifacts, seed=0, negatives_per_query=4, max_positives_per_query=8)
    return artifacts, dataset


def test_split_queries_never_shares_a_query():
    ids = [str(i) for i in range(43)]
    for seed in range(20):
        split = split_queries(ids, seed, (0.6, 0.2, 0.2))
        sets = [set(split[name]) for name in ("train", "validation", "test")]
        assert sum(len(s) for s in sets) == 43 and set().union(*sets) == set(ids)
        assert [len(s) for s in sets] == [26, 9, 8]
    assert split_queries(ids, 1, (0.6, 0.2, 0.2)) == split_queries(list(reversed(ids)), 1, (0.6, 0.2, 0.2))


def test_dataset_splits_by_query_and_labels_correctly(subset: Subset, built):
    _, dataset = built
    assert dataset.name == "v1"
    manifest = json.loads((dataset / "manifest.json").read_text())
    split = manifest["split"]["query_ids"]
    train, validation, test = (set(split[name]) for name in ("train", "validation", "test"))
    assert not (train & validation) and not (train & test) and not (validation & test)
    assert train | validation | test == set(QUERY_IDS)
    assert manifest["split"]["counts"] == {"train": 5, "validation": 2, "test": 1}

    qrels = subset.judgments()
    triplets = _read_jsonl(dataset / "train.jsonl")
    assert triplets and {t["query_id"] for t in triplets} <= train
    for t in triplets:
        assert qrels[t["query_id"]][t["positive_id"]] == t["positive_grade"] >= 2
        assert qrels[t["query_id"]].get(t["negative_id"], 0) == 0  # never a passage judged >= 1
        assert t["negative_source"] == ("judged-0" if t["negative_id"] in qrels[t["query_id"]] else "bm25-unjudged")
    for name, ids in (("validation", validation), ("test", test)):
        rows = _read_jsonl(dataset / f"{name}.jsonl")
        assert {r["query_id"] for r in rows} == ids
        for r in rows:
            assert r["qrels"] == qrels[r["query_id"]]  # every graded judgment, for evaluation over the corpus

    lengths = manifest["token_lengths"]
    assert lengths["passages"]["count"] == manifest["source"]["passages"]
    assert lengths["queries"]["p50"] <= lengths["queries"]["p99"] <= lengths["queries"]["max"]
    assert (
        manifest["max_seq_length"]["value"] >= lengths["passages"]["p99"] or manifest["max_seq_length"]["value"] == 256
    )


def test_manifest_hashes_match_the_files(subset: Subset, built):
    _, dataset = built
    manifest = verify_dataset(dataset)
    assert set(manifest["files"]) == {"train.jsonl", "validation.jsonl", "test.jsonl"}
    for name, entry in manifest["files"].items():
        assert sha256_file(dataset / name) == entry["sha256"]
    # lineage: the corpus version the warehouse landed, which is the hash of the very files
    landed = manifest["source"]["landed"]
    assert landed["files"] == ["corpus.jsonl", "queries.jsonl", "qrels.tsv"]
    of_the_files = sha256_of(b":".join(sha256_file(subset.folder / name).encode() for name in landed["files"]))
    assert landed["content_hash"] == of_the_files
    assert query(
        subset.warehouse,
        "select content_hash from raw.landed_files where source = 'corpora' and landing_key = ?",
        [CORPUS],
    ) == [(of_the_files,)]


def test_same_inputs_reuse_the_version_and_a_new_seed_makes_a_new_one(subset: Subset, built, tmp_path: Path):
    artifacts, dataset = built
    before = {p.name: p.read_bytes() for p in dataset.iterdir()}
    again = build_dataset(subset.warehouse, artifacts, seed=0, negatives_per_query=4, max_positives_per_query=8)
    assert again == dataset
    assert {p.name: p.read_bytes() for p in dataset.iterdir()} == before
    assert sorted(p.name for p in (artifacts / "datasets").iterdir() if not p.name.startswith(".")) == ["v1"]

    # byte-identical in another artifacts folder too (no timestamps, no absolute paths in the files)
    elsewhere = build_dataset(subset.warehouse, tmp_path, seed=0, negatives_per_query=4, max_positives_per_query=8)
    assert {p.name: p.read_bytes() for p in elsewhere.iterdir()} == before

    other = build_dataset(subset.warehouse, tmp_path, seed=1, negatives_per_query=4, max_positives_per_query=8)
    assert other.name == "v2"
    assert json.loads((other / "manifest.json").read_text())["seed"] == 1

    (elsewhere / "train.jsonl").write_text("tampered\n")
    with pytest.raises(ValueError, match="does not match the manifest"):
        verify_dataset(elsewhere)


def test_negative_pools_and_inverse_cloze_pairs(subset: Subset, built, tmp_path: Path):
    qrels = subset.judgments()
    options = dict(seed=0, negatives_per_query=4, max_positives_per_query=8)
    for pool in ("judged-0", "bm25-unjudged"):
        triplets = _read_jsonl(build_dataset(subset.warehouse, tmp_path, negatives=pool, **options) / "train.jsonl")
        assert triplets and {t["negative_source"] for t in triplets} == {pool}
        assert all((t["negative_id"] in qrels[t["query_id"]]) == (pool == "judged-0") for t in triplets)

    _, default = built
    dataset = build_dataset(subset.warehouse, tmp_path, synthetic_pairs=20, **options)
    manifest = json.loads((dataset / "manifest.json").read_text())
    held_out = {
        pid
        for q in manifest["split"]["query_ids"]["validation"] + manifest["split"]["query_ids"]["test"]
        for pid in qrels[q]
    }
    passages = dict(query(subset.warehouse, "select passage_id, passage_text from stg_corpus_passages"))
    triplets = _read_jsonl(dataset / "train.jsonl")
    synthetic = [t for t in triplets if t["negative_source"] == "bm25-synthetic"]
    assert len(synthetic) == manifest["synthetic_pairs"]["written"] == 20
    for t in synthetic:
        assert t["query_id"] == f"ict:{t['positive_id']}" and t["positive_id"] not in held_out
        source = passages[t["positive_id"]]
        assert t["anchor"] in source and t["anchor"] not in t["positive"]  # the sentence was taken out
        assert t["negative_id"] != t["positive_id"] and t["negative"] == passages[t["negative_id"]]
    # the real triplets are the default dataset's, unchanged
    assert [t for t in triplets if t not in synthetic] == _read_jsonl(default / "train.jsonl")

    with pytest.raises(ValueError, match="negatives must be one of"):
        build_dataset(subset.warehouse, tmp_path, negatives="random", **options)
    with pytest.raises(ValueError, match="only .* passages qualify"):
        build_dataset(subset.warehouse, tmp_path, synthetic_pairs=100_000, **options)


def test_train_a_few_steps_writes_a_loadable_model(built):
    from embeddings.encoders import encode_texts
    from embeddings.model_source import embedding_dimension, resolve_model
    from training.finetune import train

    artifacts, dataset = built
    model_dir = train(dataset, artifacts, batch_size=4, max_steps=2, seed=0)
    assert model_dir == artifacts / "models" / "v1"

    record = json.loads((model_dir / "training.json").read_text())
    assert record["dataset"]["version"] == "v1"
    assert record["dataset"]["manifest_sha256"] == sha256_file(dataset / "manifest.json")
    assert record["steps"] == 2 and record["hyper_parameters"]["batch_size"] == 4
    assert record["base_model"]["id"].startswith("all-MiniLM-L6-v2@")
    assert np.isfinite(record["final_loss"])
    assert [entry["step"] for entry in _read_jsonl(model_dir / "training_log.jsonl") if "loss" in entry] == [1, 2]

    spec = resolve_model(model_dir, artifacts)
    assert spec.model_dir == model_dir and spec.model_id != record["base_model"]["id"]
    assert embedding_dimension(spec) == 384  # what int_text_embeddings sizes its FLOAT[n] column with
    vectors = encode_texts(spec, ["causes of left ventricular hypertrophy", "an axon terminal"], progress=False)
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    from sentence_transformers import SentenceTransformer

    assert SentenceTransformer(str(model_dir), device="cpu").max_seq_length == 256  # chunks as the base model


# ---------------------------------------------------------------- the promotion gate


def _model_folder(target: Path, dataset: Path, scrambled: bool) -> Path:
    """A model folder as `make finetune` writes one: the packaged model (its weights scrambled for a deliberately
    broken candidate) and a training.json naming the dataset."""
    import torch
    from sentence_transformers import SentenceTransformer

    from embeddings.model_source import default_model_dir

    model = SentenceTransformer(str(default_model_dir()), device="cpu")
    if scrambled:
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.5)
    model.save(str(target))
    (target / "training.json").write_text(json.dumps({"dataset": {"path": str(dataset), "version": dataset.name}}))
    return target


def test_the_gate_refuses_a_worse_candidate_and_promotes_a_better_one(
    subset: Subset, built, tmp_path: Path, monkeypatch
):
    from embeddings.model_source import PACKAGED, current_model_pointer, resolve_model
    from training.promote import evaluate_candidate, registry_table

    artifacts, dataset = built
    broken = _model_folder(tmp_path / "broken", dataset, scrambled=True)
    refused = evaluate_candidate(broken, artifacts, resolve_model(PACKAGED, artifacts), subset.warehouse)
    validation = refused["metrics"]["validation"]
    assert refused["decision"] == "rejected" and "baseline stays" in refused["reason"]
    assert validation["candidate"]["ndcg@10"]["mean"] < validation["baseline"]["ndcg@10"]["mean"]
    assert validation["gain_ndcg_at_10"]["ci_low"] <= 0
    assert not current_model_pointer(artifacts).exists()

    # the other way round: against the broken model as the current one, the packaged weights are clearly better
    good = _model_folder(tmp_path / "good", dataset, scrambled=False)
    promoted = evaluate_candidate(good, artifacts, resolve_model(str(broken), artifacts), subset.warehouse)
    assert promoted["decision"] == "promoted" and promoted["metrics"]["validation"]["gain_ndcg_at_10"]["ci_low"] > 0
    assert current_model_pointer(artifacts).read_text().strip() == str(good.resolve())
    assert resolve_model("", artifacts).model_id == promoted["candidate_model_id"]  # the platform's model from now on

    # ... so the next build re-embeds under it (the index's model id is what search checks against)
    from ingestion import ingest
    from tests.support.data import write_doc

    write_doc(tmp_path / "data" / "documents")
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    monkeypatch.setenv("ARTIFACTS_DIR", str(artifacts))  # the dbt build's Python models read the settings
    chunks = ingest("d1", data_dir=tmp_path / "data", warehouse=warehouse, target_path=tmp_path / "target")
    assert query(warehouse, "select distinct model_id from document_chunks") == [(promoted["candidate_model_id"],)]
    # ... and search uses it: the published index is served with the promoted model, and refused with another one
    from pipeline.publish import publish
    from search.results import RetrieverError
    from search.retriever import Retriever

    publish(warehouse, tmp_path / "published.duckdb")
    retriever = Retriever(tmp_path / "published.duckdb", model=resolve_model("", artifacts))
    assert retriever.model.model_id == promoted["candidate_model_id"]
    assert [hit.document_text for hit in retriever.search(chunks[1]["text"], k=1)] == [chunks[1]["text"]]
    with pytest.raises(RetrieverError, match="vectors made with"):
        Retriever(tmp_path / "published.duckdb", model=resolve_model(PACKAGED, artifacts))

    registry = json.loads((artifacts / "registry.json").read_text())["entries"]
    assert [e["decision"] for e in registry] == ["rejected", "promoted"]
    assert all(
        e["dataset_version"] == dataset.name and set(e["metrics"]) == {"validation", "test", "train"} for e in registry
    )
    rows = registry_table(registry).splitlines()[2:]
    assert [row.rsplit("|", 2)[1].strip() for row in rows] == ["rejected", "promoted"]


def test_evaluation_encodes_no_baseline_passage_the_warehouse_holds(subset: Subset, built, tmp_path: Path, monkeypatch):
    """The warehouse was built with the packaged model: as the baseline it encodes only the queries; a candidate
    encodes every chunk once, then reads them from the cache."""
    import training.corpus_search as corpus_search
    from embeddings.model_source import PACKAGED, resolve_model
    from training.promote import evaluate_candidate

    encoded: list[tuple[str, list[str]]] = []
    real_encode = corpus_search.encode_texts

    def counting_encode(spec, texts, progress=True):
        encoded.append((spec.model_id, list(texts)))
        return real_encode(spec, texts, progress=progress)

    monkeypatch.setattr(corpus_search, "encode_texts", counting_encode)
    _, dataset = built
    artifacts = tmp_path / "artifacts"
    baseline = resolve_model(PACKAGED, artifacts)
    candidate = resolve_model(str(_model_folder(tmp_path / "candidate", dataset, scrambled=True)), artifacts)
    split = json.loads((dataset / "manifest.json").read_text())["split"]["query_ids"]
    queries = dict(query(subset.warehouse, "select query_id, query_text from corpus_queries"))
    asked = sorted(queries[q] for name in ("validation", "test", "train") for q in split[name])
    chunks = [
        text
        for (text,) in query(
            subset.warehouse,
            "select text from search_chunks where source = 'corpus' order by source_position, chunk_index",
        )
    ]

    def texts_encoded_by(model_id: str) -> list[str]:
        return sorted(text for model, texts in encoded if model == model_id for text in texts)

    evaluate_candidate(candidate.model_dir, artifacts, baseline, subset.warehouse)
    assert texts_encoded_by(baseline.model_id) == asked  # the queries, and not one passage
    assert texts_encoded_by(candidate.model_id) == sorted(chunks + asked)
    assert query(subset.warehouse, "select distinct model_id from search_chunks") == [(baseline.model_id,)]

    encoded.clear()
    evaluate_candidate(candidate.model_dir, artifacts, baseline, subset.warehouse)
    assert texts_encoded_by(candidate.model_id) == asked  # the chunks' vectors came from artifacts/eval_cache


def test_a_warehouse_holding_another_corpus_version_is_refused(subset: Subset, built, tmp_path: Path):
    from training.corpus_search import read_corpus_chunks
    from training.promote import evaluate_candidate

    _, dataset = built
    version = json.loads((dataset / "manifest.json").read_text())["source"]["landed"]["content_hash"]
    assert read_judged_corpus(subset.warehouse, CORPUS, version).version == version

    # the same corpus landed again with one more passage, and not built since
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    shutil.copy(subset.warehouse, warehouse)
    changed = shutil.copytree(subset.folder, tmp_path / "data" / "retrieval" / CORPUS)
    with open(changed / "corpus.jsonl", "a") as handle:
        handle.write(
            json.dumps({"_id": "landed-later", "title": "", "text": "A passage landed after the build."}) + "\n"
        )
    from landing.land import land_all

    land_all(tmp_path / "data", warehouse)
    with pytest.raises(CorpusUnavailable, match="not the version .* the dataset was built from"):
        read_judged_corpus(warehouse, CORPUS, version)
    candidate = tmp_path / "candidate"
    candidate.mkdir()
    (candidate / "training.json").write_text(json.dumps({"dataset": {"path": str(dataset), "version": dataset.name}}))
    with pytest.raises(CorpusUnavailable, match="not the version"):
        evaluate_candidate(candidate, tmp_path / "artifacts", None, warehouse)
    assert not (tmp_path / "artifacts" / "registry.json").exists()
    # and the chunks built before that landing are not taken for the new version's
    landed_now = read_judged_corpus(warehouse, CORPUS)
    with pytest.raises(CorpusUnavailable, match="run `make build`"):
        read_corpus_chunks(warehouse, CORPUS, landed_now.version)
