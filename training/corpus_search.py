"""Exact dense search over a whole judged corpus, for the promotion gate, on the warehouse's chunks.

The searched units are the corpus's chunks in the `search_chunks` mart: a passage longer than the model window is
split there as the index splits it, and a passage scores its best chunk's cosine, for every model alike, so the
baseline and the candidate are compared on the same units. Fine-tuned models keep the base model's tokenizer and
window (training.finetune), so these are the chunks either model would index.

Vectors: a model whose id has vectors for every chunk in `int_text_embeddings` (the model the warehouse was built
with, or one it was built with before) encodes nothing; any other model encodes the chunks once, cached under
`cache_dir` per (model id, corpus version, chunks).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.files import sha256_of
from embeddings.encoders import encode_texts
from embeddings.model_source import ModelSpec
from training.judged_corpus import RUN_FIRST, CorpusUnavailable, read_warehouse
from warehouse import Warehouse
from warehouse.vectors import fixed_size_vectors

DEPTH = 100

_CORPUS_CHUNKS = """
    from search_chunks as chunks
    {join}
    where chunks.source = 'corpus' and chunks.doc_id = ?
    order by chunks.source_position, chunks.chunk_index
"""
_PASSAGES = (
    "left join stg_corpus_passages as passages "
    "on passages.corpus = chunks.doc_id and passages.passage_id = chunks.unit_id"
)
_VECTORS = (
    "left join int_text_embeddings as vectors on vectors.content_hash = chunks.content_hash and vectors.model_id = ?"
)


@dataclass(frozen=True)
class CorpusChunks:
    warehouse: Warehouse
    corpus: str
    version: str  # the corpus's landed content hash
    passage_ids: list[str]  # the passages that have chunks, in corpus order
    starts: np.ndarray  # index of each passage's first chunk: a passage's chunks are consecutive
    texts: list[str]  # per chunk
    digest: str  # sha256 over the chunks' content hashes: which chunking the cached vectors belong to


def read_corpus_chunks(warehouse: Warehouse, corpus: str, version: str) -> CorpusChunks:
    """The corpus's chunks, after checking they were cut from the staged passages of the landed corpus."""
    with read_warehouse(warehouse) as con:
        rows = con.execute(
            "select chunks.unit_id, chunks.text, chunks.content_hash, "
            "coalesce(contains(passages.passage_text, chunks.text), false) " + _CORPUS_CHUNKS.format(join=_PASSAGES),
            [corpus],
        ).fetchall()
        staged = con.execute(
            "select count(*) from stg_corpus_passages where corpus = ? and not is_blank", [corpus]
        ).fetchone()[0]
    if not rows:
        raise CorpusUnavailable(f"{warehouse}: search_chunks holds no chunk of corpus {corpus!r}: {RUN_FIRST}")
    passage_ids = list(dict.fromkeys(unit_id for unit_id, _, _, _ in rows))
    if len(passage_ids) != staged or not all(inside for *_, inside in rows):
        # search_chunks is a table: a corpus landed again without a build leaves the previous version's chunks
        raise CorpusUnavailable(
            f"{warehouse}: search_chunks of {corpus!r} are not the landed corpus's passages "
            "(landed again since the last build?): run `make build`"
        )
    unit_ids = [unit_id for unit_id, _, _, _ in rows]
    starts = np.flatnonzero([i == 0 or unit_ids[i] != unit_ids[i - 1] for i in range(len(unit_ids))])
    digest = sha256_of("\n".join(content_hash for _, _, content_hash, _ in rows).encode())
    return CorpusChunks(warehouse, corpus, version, passage_ids, starts, [text for _, text, _, _ in rows], digest)


def stored_vectors(chunks: CorpusChunks, model_id: str) -> np.ndarray | None:
    """The warehouse's vectors of every chunk under `model_id`, or None if any chunk has none."""
    with read_warehouse(chunks.warehouse) as con:
        # FLOAT[dim] on every engine (pgvector's text form, Spark's plain lists, cast back)
        embedding = fixed_size_vectors(con, "int_text_embeddings as vectors", "vectors.embedding")
        column = con.execute(
            f"select {embedding} as embedding " + _CORPUS_CHUNKS.format(join=_VECTORS), [model_id, chunks.corpus]
        ).fetchnumpy()["embedding"]
    if len(column) != len(chunks.texts) or np.ma.is_masked(column):  # a chunk without a vector is masked
        return None
    return np.stack(list(column)).astype(np.float32)


def chunk_vectors(spec: ModelSpec, chunks: CorpusChunks, cache_dir: Path) -> np.ndarray:
    """Unit vectors of every chunk: the warehouse's when it holds them for the model, else encoded once and cached."""
    stored = stored_vectors(chunks, spec.model_id)
    if stored is not None:
        return stored
    path = cache_dir / f"{spec.model_id.replace('/', '_')}-{chunks.version[:12]}-{chunks.digest[:12]}.npy"
    if path.is_file():
        vectors = np.load(path)
        if vectors.shape[0] == len(chunks.texts):
            return vectors
    print(f"[evaluate] encoding {len(chunks.texts):,} chunks of {chunks.corpus} with {spec.model_id}")
    vectors = encode_texts(spec, chunks.texts, progress=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(staging, vectors)
    os.replace(staging, path)
    return vectors


def search_run(
    spec: ModelSpec, chunks: CorpusChunks, vectors: np.ndarray, queries: dict[str, str]
) -> dict[str, dict[str, float]]:
    """Each query's top DEPTH passages by their best chunk's cosine (ties in corpus order)."""
    query_ids = sorted(queries)
    query_vectors = encode_texts(spec, [queries[q] for q in query_ids], progress=False)
    best = np.maximum.reduceat(query_vectors @ vectors.T, chunks.starts, axis=1)  # (queries, passages)
    run = {}
    for row, query_id in enumerate(query_ids):
        top = np.argsort(-best[row], kind="stable")[:DEPTH]
        run[query_id] = {chunks.passage_ids[i]: float(best[row, i]) for i in top}
    return run
