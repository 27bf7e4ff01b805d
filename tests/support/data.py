"""The real data beside the checkout (../shared/data), and small real subsets of it for fast tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT, Settings
from embeddings.model_source import ModelSpec, resolve_model


def model(source: str = "") -> ModelSpec:
    """A model source resolved as the platform resolves it, against the tests' artifacts folder."""
    settings = Settings.from_env()
    return resolve_model(source, settings.artifacts_dir, settings.embedding_backend)


REAL_DATA = (PROJECT_ROOT.parent / "shared" / "data").resolve()


REAL_SCORE_BATCHES = REAL_DATA / "score_batches"


def require_real(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"real data missing: {path} (the shared data folder must sit beside the checkout)")
    return path


REAL_DOCUMENT = "12345"


REAL_CORPUS = REAL_DATA / "retrieval" / "msmarco-trec-dl"


# real TREC DL 2019 queries whose judged passages make the small search corpus of the tests
SEARCH_TEST_QUERY_IDS = ("19335", "47923", "87181", "1110199", "1129237")


def write_corpus_subset(target: Path, query_ids: tuple[str, ...] = SEARCH_TEST_QUERY_IDS) -> Path:
    """The judged passages of a few real queries, in BEIR layout: a real corpus small enough to embed fast."""
    import json

    require_real(REAL_CORPUS)
    target.mkdir(parents=True)
    qrels = [line.rstrip("\n").split("\t") for line in (REAL_CORPUS / "qrels.tsv").read_text().splitlines()[1:]]
    judged = [row for row in qrels if row[0] in query_ids]
    passages = {row[1] for row in judged}
    lines = (REAL_CORPUS / "corpus.jsonl").read_bytes().split(b"\n")  # '\n' only: texts hold U+2028
    (target / "corpus.jsonl").write_bytes(
        b"".join(line + b"\n" for line in lines if line and json.loads(line)["_id"] in passages)
    )
    queries = [
        line
        for line in (REAL_CORPUS / "queries.jsonl").read_text().splitlines()
        if json.loads(line)["_id"] in query_ids
    ]
    (target / "queries.jsonl").write_text("\n".join(queries) + "\n")
    (target / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join("\t".join(row) + "\n" for row in judged))
    return target


def write_search_data(data_dir: Path) -> None:
    """A DATA_DIR's search sources: the sample document 10001 and the judged passages of 5 real TREC DL queries."""

    (data_dir / "documents").mkdir(parents=True)
    for name in ("texts_10001.json", "pages_10001.csv"):
        shutil.copy(PROJECT_ROOT / "sample_data" / "documents" / name, data_dir / "documents" / name)
    write_corpus_subset(data_dir / "retrieval" / "msmarco-mini")


PAGES = "id,pg_num\nref-a,1\nref-b,2\n"


TEXTS = [{"text": "First text.", "pages": ["ref-a"]}, {"text": "Second.", "pages": ["ref-a", "ref-b"]}]


def write_doc(folder: Path, doc_id: str = "d1", texts: object = TEXTS, pages: str = PAGES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"texts_{doc_id}.json").write_text(texts if isinstance(texts, str) else json.dumps(texts))
    (folder / f"pages_{doc_id}.csv").write_text(pages)
    return folder


def write_document_subset(folder: Path, texts: int, doc_id: str = REAL_DOCUMENT) -> tuple[Path, Path]:
    """The first `texts` texts of the real memorandum, with its pages file, as document `doc_id` in `folder`: a real
    document small enough to embed fast. (The pages file, then the texts file.)"""
    source = require_real(REAL_DATA / "documents")
    folder.mkdir(parents=True, exist_ok=True)
    pages = folder / f"pages_{doc_id}.csv"
    shutil.copy(source / f"pages_{REAL_DOCUMENT}.csv", pages)
    texts_path = folder / f"texts_{doc_id}.json"
    texts_path.write_text(json.dumps(json.loads((source / f"texts_{REAL_DOCUMENT}.json").read_text())[:texts]))
    return pages, texts_path
