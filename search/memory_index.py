"""`SearchIndex`: one published copy of `search_chunks` in memory (the `memory` backend).

The published copy (pipeline.publish) is read once into memory and scored by brute force: a float32 matrix
product for cosine similarity (vectors are unit length; search.scoring.DenseScorer) and bm25s sparse scores for
keywords (search.bm25). Exact search, no approximate index to tune or to rebuild, a few milliseconds at 100,000
vectors, and no connection left open on any DuckDB file (measured in docs/search.md).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.snapshot import read_published
from search.bm25 import BM25Index
from search.results import RetrieverError
from search.scoring import DenseScorer, Ranking, ScoredRanking

log = logging.getLogger(__name__)


@dataclass
class SearchIndex:
    """An immutable in-memory snapshot of one published file."""

    result_ids: np.ndarray  # per chunk
    texts: list[str]
    sources: np.ndarray
    doc_ids: np.ndarray
    chunk_ids: list[str]
    pages: list[list[int] | None]
    vectors: np.ndarray  # (chunks, dim), float32, unit rows
    model_ids: list[str]
    published_at: str | None
    warehouse_built_at: str | None
    bm25: "BM25Index | None" = field(repr=False, default=None)
    scorer: "DenseScorer" = field(repr=False, init=False)

    def __post_init__(self) -> None:
        self.scorer = DenseScorer(self.vectors)

    @property
    def size(self) -> int:
        return len(self.texts)

    @classmethod
    def load(cls, published_path: Path) -> "SearchIndex":
        path = Path(published_path)
        started = time.perf_counter()
        with read_published(path, "search index", RetrieverError) as con:
            table = con.execute(
                """
                select result_id, text, source, doc_id, chunk_id, pages, model_id, embedding
                from search_chunks
                order by source, doc_id, source_position, chunk_index
                """
            ).to_arrow_table()
            published_at, built_at = con.execute(
                "select published_at::varchar, warehouse_built_at::varchar from publication"
            ).fetchone()
        if table.num_rows:
            embedding = table.column("embedding").combine_chunks()
            flat = np.array(embedding.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)  # owned, writable
            vectors = flat.reshape(-1, embedding.type.list_size)
        else:
            vectors = np.zeros((0, 0), np.float32)
        index = cls(
            result_ids=np.asarray(table.column("result_id").to_pylist(), dtype=object),
            texts=table.column("text").to_pylist(),
            sources=np.asarray(table.column("source").to_pylist(), dtype=object),
            doc_ids=np.asarray(table.column("doc_id").to_pylist(), dtype=object),
            chunk_ids=table.column("chunk_id").to_pylist(),
            pages=table.column("pages").to_pylist(),
            vectors=vectors,
            model_ids=sorted(set(table.column("model_id").to_pylist())),
            published_at=published_at,
            warehouse_built_at=built_at,
        )
        index._build_bm25()
        log.info("loaded %d chunks from %s in %.2fs", index.size, path, time.perf_counter() - started)
        return index

    def _build_bm25(self) -> None:
        self.bm25 = BM25Index(self.texts)

    def bm25_scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk; 0 where no query term occurs."""
        return self.bm25.scores(query) if self.bm25 is not None else np.zeros(self.size, np.float32)

    def dense_scores(self, query_vector: np.ndarray) -> np.ndarray:
        return self.scorer.scores(query_vector)

    def mask(self, source: str | None, doc_id: str | None) -> np.ndarray | None:
        """The chunks a search with these filters may return (None: all)."""
        mask = None
        if source is not None:
            mask = self.sources == source
        if doc_id is not None:
            mask = (self.doc_ids == doc_id) if mask is None else mask & (self.doc_ids == doc_id)
        return mask

    def dense_ranking(self, query_vector: np.ndarray, source: str | None, doc_id: str | None) -> "Ranking":
        """The chunks by cosine similarity to the query, best first, filters applied: the backends' seam."""
        return ScoredRanking(self.dense_scores(query_vector), self.mask(source, doc_id))

    def bm25_ranking(self, query: str, source: str | None, doc_id: str | None) -> "Ranking":
        """The chunks holding a query term, by BM25 score, best first, filters applied."""
        scores = self.bm25_scores(query)
        mask = self.mask(source, doc_id)
        return ScoredRanking(scores, scores > 0 if mask is None else mask & (scores > 0))

    def chunk_vectors(self, rows: np.ndarray) -> np.ndarray:
        """The vectors of these chunks (rows of this index)."""
        return self.vectors[rows]
