"""`Retriever.search(query, k)` over the published search index: dense, BM25 or hybrid.

Where the index lives (measured in docs/search.md): the vectors' source of truth is the warehouse's
`search_chunks` mart. Two backends (SEARCH_BACKEND), one Retriever and one result shape (search.results); they
differ only in where an index's dense ranking comes from (`SearchIndex.dense_ranking`):

- `memory` (default): `SearchIndex` (search.memory_index), the published DuckDB copy (pipeline.publish) in
  memory, exact search by brute force.
- `postgres`: `PostgresIndex` (search.pgvector), `search_chunks` on Postgres, dense search on pgvector's HNSW
  index; BM25 and hybrid stay the same in-memory bm25s over the same texts.

`refresh()` reloads when a new copy is published (pipeline.snapshot). Hybrid is reciprocal rank fusion (Cormack
et al. 2009) of the dense and BM25 rankings: it needs no score calibration between a cosine and a BM25 score, and
its one constant (60) is the literature's default.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from core.settings import Settings, check_search_backend
from core.text import is_blank
from embeddings.encoders import encode_texts, load_encoder
from embeddings.model_source import ModelSpec, settings_model
from pipeline.publish import published_file_key
from pipeline.snapshot import PublishedSnapshot
from search.memory_index import SearchIndex
from search.pgvector import PostgresIndex
from search.results import DEFAULT_MODE, MODES, SOURCES, Result, RetrieverError
from search.scoring import Ranking
from warehouse.local_postgres import connection

RRF_K = 60  # reciprocal rank fusion constant
FUSION_DEPTH = 100  # how deep each ranking goes into the fusion
# query vectors kept per Retriever (one model): a repeated query skips the encoder, the bulk of a dense search's
# time. 1.5 KB each (384 float32), so 20,000 queries are ~31 MB.
QUERY_CACHE_SIZE = 20_000


class Retriever:
    """Search the published index with the model its vectors were made with.

    `Retriever()` is a public entry point: what it is not given (the published copy, the model, the backend, the
    Postgres server) it takes from the environment's settings (PUBLISHED_PATH, EMBEDDING_MODEL, SEARCH_BACKEND,
    PG*). `backend="postgres"` searches `search_chunks` on `postgres` (an warehouse.local_postgres.Connection;
    default: settings.postgres_server, else the project's local server) instead of the published copy.
    `query_cache_size`: how many query vectors to keep (0: encode every query)."""

    def __init__(
        self,
        published_path: str | os.PathLike | None = None,
        model: ModelSpec | None = None,
        mode: str = DEFAULT_MODE,
        backend: str | None = None,
        postgres: object | None = None,
        query_cache_size: int = QUERY_CACHE_SIZE,
    ):
        if backend is None and (published_path is not None or postgres is not None):
            backend = "memory" if published_path is not None else "postgres"  # a published copy, or a server
        settings = None
        if (
            model is None
            or backend is None
            or (backend == "memory" and published_path is None)
            or (backend == "postgres" and postgres is None)
        ):
            settings = Settings.from_env()
            backend = backend or settings.search_backend
            model = model or settings_model(settings)
        self.backend = check_search_backend(backend)
        self.model: ModelSpec = model
        self.mode = self._check_mode(mode)
        if backend == "postgres":
            if postgres is None:
                postgres = connection(settings.postgres_server)
            self.published_path = None
            self.location = postgres  # the server; its search_chunks is the index
            self._index_class = PostgresIndex
        else:
            self.published_path = Path(published_path or settings.published_path)
            self.location = self.published_path
            self._index_class = SearchIndex
        self._published = PublishedSnapshot(self._load, "search index", key=index_key(backend))
        self._published.load(self.location)
        # 0: every query is encoded (what a latency measurement of the encoder needs)
        self._cached_query_vector = functools.lru_cache(maxsize=query_cache_size)(self._encode_query)

    @property
    def index(self) -> SearchIndex:
        """The snapshot being searched; take it once per query (a refresh may swap it meanwhile)."""
        return self._published.current

    @index.setter
    def index(self, index: SearchIndex) -> None:  # benchmarks/search.py searches a scaled-up copy
        self._published.current = index

    def _load(self, location) -> SearchIndex:
        index = self._index_class.load(location)
        foreign = [model_id for model_id in index.model_ids if model_id != self.model.model_id]
        if foreign:
            raise RetrieverError(
                f"{location}: vectors made with {', '.join(foreign)}, but the configured model is "
                f"{self.model.model_id}; set EMBEDDING_MODEL to the model the index was built with, or rebuild"
            )
        return index

    def refresh(self) -> bool:
        """Load the published copy again if a new one was published since (postgres: if dbt built a new
        search_chunks since); True when it was swapped in. Searches keep using the old snapshot until the new
        one is fully loaded; a copy that cannot be served (another model's vectors: RetrieverError, a broken
        file) raises and the old snapshot keeps serving."""
        return self._published.reload_if_changed(self.location)

    @staticmethod
    def _check_mode(mode: str) -> str:
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
        return mode

    def encode_query(self, query: str) -> np.ndarray:
        """The query's vector, from the cache when this exact text was encoded before (the model never changes
        under a Retriever: a new model is a new Retriever, so the cache needs no key but the text)."""
        return self._cached_query_vector(query)

    def _encode_query(self, query: str) -> np.ndarray:
        vector = encode_texts(self.model, [query], progress=False)[0]
        vector.flags.writeable = False  # shared by every search of this text
        return vector

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
        if not isinstance(query, str) or is_blank(query):
            raise ValueError("query must be a non-blank string (core.text.is_blank)")
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        mode = self._check_mode(mode or self.mode)
        if source is not None and source not in SOURCES:
            raise ValueError(f"unknown source {source!r}: use one of {', '.join(SOURCES)}")
        index = self.index  # one snapshot for the whole query, even if refresh() swaps it meanwhile
        if index.size == 0:
            return []
        if mode == "dense":
            ranked = self._dedupe(index, index.dense_ranking(self.encode_query(query), source, doc_id), k)
        elif mode == "bm25":
            ranked = self._dedupe(index, index.bm25_ranking(query, source, doc_id), k)
        else:
            ranked = self._fuse(index, query, k, source, doc_id)
        return [self._result(index, chunk, score) for chunk, score in ranked]

    @staticmethod
    def _dedupe(index: SearchIndex, ranking: Ranking, k: int) -> list[tuple[int, float]]:
        """Best chunk per result id (a long passage's chunks share its id), best first: the ranking's top
        `2k + 10` chunks, four times deeper until k distinct ids are found or every allowed chunk was seen."""
        depth = k * 2 + 10
        while True:
            order, scores = ranking.top(depth)
            seen, ranked = set(), []
            for chunk, score in zip(order, scores):
                result_id = index.result_ids[chunk]
                if result_id not in seen:
                    seen.add(result_id)
                    ranked.append((int(chunk), float(score)))
                    if len(ranked) == k:
                        return ranked
            if depth >= ranking.allowed:
                return ranked
            depth *= 4

    def _fuse(self, index, query, k, source, doc_id) -> list[tuple[int, float]]:
        depth = max(FUSION_DEPTH, k)
        fused: dict[str, float] = {}
        best_chunk: dict[str, int] = {}
        for ranking in (
            self._dedupe(index, index.dense_ranking(self.encode_query(query), source, doc_id), depth),
            self._dedupe(index, index.bm25_ranking(query, source, doc_id), depth),
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


def index_key(backend: str):
    """What identifies one publication of a backend's index (pipeline.snapshot): the published file's key, or the
    Postgres table's (PostgresIndex.key)."""
    return PostgresIndex.key if backend == "postgres" else (lambda path: published_file_key(Path(path)))
