"""`Retriever.search(query, k)` over the published search index: dense, BM25 or hybrid.

Where the index lives (measured in docs/search.md): the vectors' source of truth is the warehouse's
`search_chunks` mart; the service reads the published copy of it (ingestion.publish) once into memory and
scores by brute force: a float32 matrix product for cosine similarity (vectors are unit length) and bm25s
sparse scores for keywords. Exact search, no approximate index to tune or to rebuild, a few milliseconds at
100,000 vectors, and no connection left open on any DuckDB file. `refresh()` reloads when a new copy is
published (serving.snapshot).

Hybrid is reciprocal rank fusion (Cormack et al. 2009) of the dense and BM25 rankings: it needs no score
calibration between a cosine and a BM25 score, and its one constant (60) is the literature's default.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ingestion.embedding import encode_texts, load_encoder
from ingestion.model_source import ModelSpec
from ingestion.settings import Settings
from serving.snapshot import PublishedSnapshot, read_published

log = logging.getLogger(__name__)

MODES = ("dense", "bm25", "hybrid")
DEFAULT_MODE = "dense"  # the winner of `make eval` on the real corpus (docs/evaluation/)
SOURCES = ("document", "corpus")
RRF_K = 60  # reciprocal rank fusion constant
FUSION_DEPTH = 100  # how deep each ranking goes into the fusion
BM25_K1, BM25_B = 0.9, 0.4  # Anserini's MS MARCO passage settings


class RetrieverError(Exception):
    """The index cannot be served (no published copy, a file DuckDB cannot open, or another model's vectors)."""


@dataclass(frozen=True)
class Result:
    document_id: str  # a corpus passage's own id, or `<doc_id>:<chunk_id>` for a document chunk
    document_text: str
    score: float  # cosine similarity (dense), BM25 score (bm25), reciprocal-rank-fusion score (hybrid)
    source: str = ""
    doc_id: str = ""
    chunk_id: str = ""
    pages: list[int] | None = None


def _tokenize(texts: list[str], stemmer) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)


class BM25Index:
    """bm25s over a list of texts with the serving settings (Porter stemmer, English stopwords, BM25_K1/BM25_B):
    the one BM25 of the platform, used by search and by the fine-tuning data's hard-negative mining."""

    def __init__(self, texts: list[str]):
        import bm25s
        import Stemmer

        self.size = len(texts)
        self.stemmer = Stemmer.Stemmer("english")
        self.vocabulary: dict[str, int] = {}
        self.model = None
        if texts:
            tokenized = bm25s.tokenize(texts, stopwords="en", stemmer=self.stemmer, show_progress=False)
            self.vocabulary = tokenized.vocab
            self.model = bm25s.BM25(k1=BM25_K1, b=BM25_B)
            self.model.index(tokenized, show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every text (float32); 0 where no query term occurs."""
        if self.model is None:
            return np.zeros(self.size, np.float32)
        token_ids = [self.vocabulary[t] for t in _tokenize([query], self.stemmer)[0] if t in self.vocabulary]
        if not token_ids:
            return np.zeros(self.size, np.float32)
        return np.asarray(self.model.get_scores(token_ids), dtype=np.float32)


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
    _torch_vectors: object = field(repr=False, default=None)

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
        # torch, not numpy: the query was just encoded on torch's thread pool, and numpy's OpenBLAS threads
        # spinning beside it made every search ~6x slower on 2 cores (measured: 67 ms vs 11 ms at 34k vectors)
        import torch

        if self._torch_vectors is None:
            self._torch_vectors = torch.from_numpy(self.vectors)
        return torch.mv(self._torch_vectors, torch.from_numpy(np.ascontiguousarray(query_vector))).numpy()


def _top(scores: np.ndarray, mask: np.ndarray | None, count: int) -> np.ndarray:
    """Indices of the best `count` allowed scores, best first (ties by index, so rankings are reproducible)."""
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    count = min(count, len(scores))
    if count <= 0:
        return np.zeros(0, np.int64)
    candidates = np.argpartition(-scores, count - 1)[:count] if count < len(scores) else np.arange(len(scores))
    order = np.lexsort((candidates, -scores[candidates]))
    best = candidates[order]
    return best[np.isfinite(scores[best])]


class Retriever:
    """Search the published index with the model its vectors were made with.

    `Retriever()` is a public entry point: what it is not given (the published copy, the model) it takes from
    the environment's settings (PUBLISHED_PATH, EMBEDDING_MODEL)."""

    def __init__(
        self,
        published_path: str | os.PathLike | None = None,
        model: ModelSpec | None = None,
        mode: str = DEFAULT_MODE,
    ):
        if published_path is None or model is None:
            settings = Settings.from_env()
            published_path = published_path or settings.published_path
            model = model or settings.embedding_spec()
        self.published_path = Path(published_path)
        self.model: ModelSpec = model
        self.mode = self._check_mode(mode)
        self._published = PublishedSnapshot(self._load, "search index")
        self._published.load(self.published_path)

    @property
    def index(self) -> SearchIndex:
        """The snapshot being searched; take it once per query (a refresh may swap it meanwhile)."""
        return self._published.current

    @index.setter
    def index(self, index: SearchIndex) -> None:  # benchmarks/search.py searches a scaled-up copy
        self._published.current = index

    def _load(self, published_path: Path) -> SearchIndex:
        index = SearchIndex.load(published_path)
        foreign = [model_id for model_id in index.model_ids if model_id != self.model.model_id]
        if foreign:
            raise RetrieverError(
                f"{published_path}: vectors made with {', '.join(foreign)}, but the configured model is "
                f"{self.model.model_id}; set EMBEDDING_MODEL to the model the index was built with, or rebuild"
            )
        return index

    def refresh(self) -> bool:
        """Load the published copy again if a new one was published since; True when it was swapped in.
        Searches keep using the old snapshot until the new one is fully loaded; a copy that cannot be served
        (another model's vectors: RetrieverError, a broken file) raises and the old snapshot keeps serving."""
        return self._published.reload_if_changed(self.published_path)

    @staticmethod
    def _check_mode(mode: str) -> str:
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
        return mode

    def encode_query(self, query: str) -> np.ndarray:
        return encode_texts(self.model, [query], progress=False)[0]

    def warm_up(self) -> None:
        """Load the model now rather than on the first query."""
        load_encoder(self.model)
        self.encode_query("warm up")

    def search(
        self,
        query: str,
        k: int = 10,
        mode: str | None = None,
        source: str | None = None,
        doc_id: str | None = None,
    ) -> list[Result]:
        """The k best results, best first. `source` ('document' or 'corpus') and `doc_id` (a document id or a
        corpus name) restrict the search."""
        if not isinstance(query, str) or not query.strip():
            raise ValueError("query must be a non-empty string")
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        mode = self._check_mode(mode or self.mode)
        if source is not None and source not in SOURCES:
            raise ValueError(f"unknown source {source!r}: use one of {', '.join(SOURCES)}")
        index = self.index  # one snapshot for the whole query, even if refresh() swaps it meanwhile
        if index.size == 0:
            return []
        mask = None
        if source is not None:
            mask = index.sources == source
        if doc_id is not None:
            mask = (index.doc_ids == doc_id) if mask is None else mask & (index.doc_ids == doc_id)

        if mode == "dense":
            scores = index.dense_scores(self.encode_query(query))
            ranked = self._dedupe(index, _top(scores, mask, k * 2 + 10), scores, k, mask)
        elif mode == "bm25":
            scores = index.bm25_scores(query)
            allowed = scores > 0 if mask is None else mask & (scores > 0)
            ranked = self._dedupe(index, _top(scores, allowed, k * 2 + 10), scores, k, allowed)
        else:
            ranked = self._fuse(index, query, k, mask)
        return [self._result(index, chunk, score) for chunk, score in ranked]

    def _dedupe(self, index, order, scores, k, mask) -> list[tuple[int, float]]:
        """Best chunk per result id (a long passage's chunks share its id), best first."""
        while True:
            seen, ranked = set(), []
            for chunk in order:
                result_id = index.result_ids[chunk]
                if result_id not in seen:
                    seen.add(result_id)
                    ranked.append((int(chunk), float(scores[chunk])))
                    if len(ranked) == k:
                        return ranked
            if len(order) >= (index.size if mask is None else int(mask.sum())):
                return ranked
            order = _top(scores, mask, len(order) * 4)

    def _fuse(self, index, query, k, mask) -> list[tuple[int, float]]:
        depth = max(FUSION_DEPTH, k)
        dense_scores = index.dense_scores(self.encode_query(query))
        bm25_scores = index.bm25_scores(query)
        bm25_allowed = bm25_scores > 0 if mask is None else mask & (bm25_scores > 0)
        fused: dict[str, float] = {}
        best_chunk: dict[str, int] = {}
        for ranking in (
            self._dedupe(index, _top(dense_scores, mask, depth * 2), dense_scores, depth, mask),
            self._dedupe(index, _top(bm25_scores, bm25_allowed, depth * 2), bm25_scores, depth, bm25_allowed),
        ):
            for rank, (chunk, _) in enumerate(ranking, start=1):
                result_id = index.result_ids[chunk]
                fused[result_id] = fused.get(result_id, 0.0) + 1.0 / (RRF_K + rank)
                best_chunk.setdefault(result_id, chunk)
        ordered = sorted(fused, key=lambda result_id: (-fused[result_id], best_chunk[result_id]))[:k]
        return [(best_chunk[result_id], fused[result_id]) for result_id in ordered]

    @staticmethod
    def _result(index: SearchIndex, chunk: int, score: float) -> Result:
        return Result(
            document_id=str(index.result_ids[chunk]),
            document_text=index.texts[chunk],
            score=score,
            source=str(index.sources[chunk]),
            doc_id=str(index.doc_ids[chunk]),
            chunk_id=index.chunk_ids[chunk],
            pages=index.pages[chunk],
        )
