"""`Retriever.search(query, k)` over the published search index: dense, BM25 or hybrid.

Where the index lives (measured in docs/search.md): the vectors' source of truth is the warehouse's
`search_chunks` mart; the service reads the published copy of it (pipeline.publish) once into memory and
scores by brute force: a float32 matrix product for cosine similarity (vectors are unit length) and bm25s
sparse scores for keywords. Exact search, no approximate index to tune or to rebuild, a few milliseconds at
100,000 vectors, and no connection left open on any DuckDB file. `refresh()` reloads when a new copy is
published (pipeline.snapshot).

Hybrid is reciprocal rank fusion (Cormack et al. 2009) of the dense and BM25 rankings: it needs no score
calibration between a cosine and a BM25 score, and its one constant (60) is the literature's default.

Two backends (SEARCH_BACKEND), one Retriever and one result shape; they differ only in where an index's dense
ranking comes from (`SearchIndex.dense_ranking`):

- `memory` (default): `SearchIndex`, the published DuckDB copy in memory, exact search as above.
- `postgres`: `PostgresIndex`, the warehouse's `search_chunks` on Postgres (DBT_TARGET=postgres). Dense search
  runs there on pgvector's HNSW index (cosine; approximate, recall measured in docs/postgres.md); the vectors are
  never loaded. The rest of each row (ids, texts, pages) is read once into memory, as for `memory`, so BM25 and
  hybrid stay the same in-memory bm25s over the same texts (Postgres has no BM25: its full-text `ts_rank` is
  another ranking function, and refusing two of the three modes would make the backend a worse service), and
  `/documents/{id}/chunks` answers from it. The refresher reloads that when dbt swaps in a new table.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.settings import Settings, check_search_backend
from core.text import is_blank
from embeddings.encoders import encode_texts, load_encoder
from embeddings.model_source import ModelSpec, settings_model
from pipeline.snapshot import PublishedSnapshot, read_published

log = logging.getLogger(__name__)

MODES = ("dense", "bm25", "hybrid")
DEFAULT_MODE = "dense"  # the winner of `make evaluate-retrieval` on the real corpus (docs/evaluation/)
SOURCES = ("document", "corpus")
RRF_K = 60  # reciprocal rank fusion constant
FUSION_DEPTH = 100  # how deep each ranking goes into the fusion
# query vectors kept per Retriever (one model): a repeated query skips the encoder, the bulk of a dense search's
# time. 1.5 KB each (384 float32), so 20,000 queries are ~31 MB.
QUERY_CACHE_SIZE = 20_000
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


SCORE_BATCH = 16  # queries scored in one pass over the vectors (docs/benchmarks.md, "The service under load")


class DenseScorer:
    """Cosine scores of a query against every vector of one index, concurrent queries scored together.

    One query's matrix-vector product reads every vector (52 MB at 34,000 chunks) for 384 multiply-adds per
    row: memory-bound, and under concurrent searches that read was most of a cached query's time. So a query that
    arrives while a product is running waits for it and is scored in the next one, with whatever else arrived
    meanwhile: one pass over the vectors for up to SCORE_BATCH queries (a matrix product). The thread whose query
    starts a product computes it; when it is done it hands the next one to a waiting query's thread, so nothing
    runs in the background and an idle index costs nothing.

    The product always has SCORE_BATCH columns (unused ones zero), so its shape, and with it the order of every
    sum, never changes: a query's scores are bit-identical whatever it was batched with (tested), and a search
    never depends on concurrent ones. torch, not numpy: numpy's OpenBLAS threads spinning beside the encoder's
    made searches ~6x slower on 2 cores (measured: 67 ms vs 11 ms at 34k vectors)."""

    def __init__(self, vectors: np.ndarray):
        import torch

        self._vectors = torch.from_numpy(vectors)  # shares the index's array
        self._lock = threading.Lock()
        self._waiting: list[_Waiting] = []  # invariant: non-empty only while a product is running
        self._running = False
        self.products = self.queries = 0  # how many products scored how many queries (tests, benchmarks)

    def scores(self, query_vector: np.ndarray) -> np.ndarray:
        waiting = _Waiting(query_vector)
        with self._lock:
            self._waiting.append(waiting)
            leading, self._running = not self._running, True
        if not leading:
            waiting.done.wait()
            leading = waiting.scores is None and waiting.error is None  # woken without scores: handed the lead
        if leading:
            self._score_waiting()  # this query is among the batch it computes
        if waiting.error is not None:
            raise waiting.error
        return waiting.scores

    def _score_waiting(self) -> None:
        import torch

        with self._lock:
            batch, self._waiting = self._waiting[:SCORE_BATCH], self._waiting[SCORE_BATCH:]
            self.products, self.queries = self.products + 1, self.queries + len(batch)
        try:
            queries = torch.zeros((self._vectors.shape[1], SCORE_BATCH), dtype=torch.float32)
            for column, waiting in enumerate(batch):
                queries[:, column] = torch.tensor(waiting.vector, dtype=torch.float32)  # a copy: may be read-only
            scores = torch.mm(self._vectors, queries).T.contiguous().numpy()  # (SCORE_BATCH, chunks)
            for row, waiting in enumerate(batch):
                waiting.scores = scores[row]
        except BaseException as exc:  # every query of the batch gets the error, not only this thread's
            for waiting in batch:
                waiting.error = exc
        finally:
            with self._lock:
                successor = self._waiting[0] if self._waiting else None
                self._running = successor is not None
            for waiting in batch:
                waiting.done.set()
            if successor is not None:
                successor.done.set()  # with no scores: it computes the next product


class _Waiting:
    __slots__ = ("vector", "scores", "error", "done")

    def __init__(self, vector: np.ndarray):
        self.vector = vector
        self.scores: np.ndarray | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


class Ranking:
    """Chunks of one index in the order of one query's scores: `top(count)` gives the best `count` allowed chunks
    (row numbers of the index) and their scores, best first; `allowed` is how many chunks the filters allow."""

    allowed: int

    def top(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class ScoredRanking(Ranking):
    """Every chunk's score known (in memory): exact."""

    def __init__(self, scores: np.ndarray, mask: np.ndarray | None):
        self.scores, self.mask = scores, mask
        self.allowed = len(scores) if mask is None else int(mask.sum())

    def top(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        chunks = _top(self.scores, self.mask, count)
        return chunks, self.scores[chunks]


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


# ---------------------------------------------------------------- the postgres backend: pgvector's HNSW index

# How deep the HNSW search looks (pgvector's hnsw.ef_search, default 40, at most 1000): at least this, and at
# least as many as the query asks for, so a limit of `count` gets `count` rows; deeper is more exact and slower
# (recall@10 and latency per setting: docs/postgres.md).
EF_SEARCH = 200
EF_SEARCH_MAX = 1000  # pgvector's ceiling: asking for more rows than this goes exact
POOL_SIZE = 8  # connections per server per process; FastAPI's worker threads wait for one beyond that

_pools: dict[str, "_Pool"] = {}
_pools_lock = threading.Lock()


class _Pool:
    """psycopg2's ThreadedConnectionPool, waiting for a free connection instead of raising when all are out."""

    def __init__(self, dsn: str, size: int):
        from psycopg2.pool import ThreadedConnectionPool

        self._pool = ThreadedConnectionPool(0, size, dsn)
        self._free = threading.BoundedSemaphore(size)

    @contextlib.contextmanager
    def connection(self) -> Iterator[object]:
        """A connection in autocommit mode (no transaction left open between queries), handed back afterwards;
        one that failed (the server restarted) is closed instead of reused."""
        import psycopg2

        with self._free:
            con = self._pool.getconn()
            broken = True
            try:
                if not con.autocommit:
                    con.autocommit = True
                yield con
                broken = False
            except psycopg2.Error as exc:
                broken = con.closed or isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError))
                raise
            except BaseException:
                broken = bool(con.closed)
                raise
            finally:
                self._pool.putconn(con, close=broken)


def _pool(server) -> _Pool:
    """The process's connection pool to one server (shared by every Retriever and index reading it)."""
    dsn = server.dsn()
    with _pools_lock:
        if dsn not in _pools:
            _pools[dsn] = _Pool(dsn, POOL_SIZE)
        return _pools[dsn]


def _postgres_error(server, exc: Exception) -> RetrieverError:
    return RetrieverError(f"the search index on {server} cannot be read: {str(exc).strip()}")


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form '[x,y,...]' (cast to vector in the SQL): no pgvector adapter package needed, and
    repr() of each float32 value is read back by pgvector's strtof as exactly that float."""
    return "[" + ",".join(map(repr, np.asarray(vector, np.float32).astype(float).tolist())) + "]"


@dataclass
class PostgresIndex(SearchIndex):
    """`search_chunks` on a Postgres server: every column but the vectors read into memory (for BM25, filters
    and results), dense search in Postgres on the HNSW index. `vectors` stays empty."""

    server: object = None  # warehouse.local_postgres.Connection
    positions: dict = field(repr=False, default_factory=dict)  # (source, doc_id, chunk_id) -> row

    @staticmethod
    def key(server) -> tuple | None:
        """What identifies one build of search_chunks (None when there is none): dbt builds a table model into a
        new relation and renames it in, so its oid changes; relfilenode catches a truncate or rewrite in place.
        An unreachable server is a key of its own: the load is tried (and its error reported) once, and again
        when the server answers."""
        import psycopg2

        try:
            with _pool(server).connection() as con, con.cursor() as cursor:
                cursor.execute("select oid::bigint, relfilenode::bigint from pg_class "
                               "where oid = to_regclass('search_chunks')")
                row = cursor.fetchone()
        except psycopg2.Error:
            return ("unreachable",)
        return tuple(row) if row else None

    @classmethod
    def load(cls, server) -> "PostgresIndex":
        import psycopg2

        started = time.perf_counter()
        try:
            with _pool(server).connection() as con, con.cursor() as cursor:
                cursor.execute("select to_regclass('search_chunks') is not null")
                if not cursor.fetchone()[0]:
                    raise RetrieverError(f"no search_chunks on {server}: build it (DBT_TARGET=postgres make run)")
                cursor.execute(
                    """
                    select result_id, text, source, doc_id, chunk_id, pages, model_id
                    from search_chunks
                    order by source, doc_id, source_position, chunk_index
                    """
                )
                rows = cursor.fetchall()
        except psycopg2.Error as exc:
            raise _postgres_error(server, exc) from None
        columns = list(zip(*rows)) if rows else [()] * 7
        result_ids, texts, sources, doc_ids, chunk_ids, pages, model_ids = columns
        index = cls(
            result_ids=np.asarray(result_ids, dtype=object),
            texts=list(texts),
            sources=np.asarray(sources, dtype=object),
            doc_ids=np.asarray(doc_ids, dtype=object),
            chunk_ids=list(chunk_ids),
            pages=list(pages),
            vectors=np.zeros((len(rows), 0), np.float32),
            model_ids=sorted(set(model_ids)),
            published_at=None,
            warehouse_built_at=None,
            server=server,
            positions={key: row for row, key in enumerate(zip(sources, doc_ids, chunk_ids))},
        )
        if len(index.positions) != index.size:
            raise RetrieverError(f"search_chunks on {server}: (source, doc_id, chunk_id) is not unique")
        index._build_bm25()
        log.info("loaded %d chunks (without vectors) from %s in %.2fs", index.size, server,
                 time.perf_counter() - started)
        return index

    def dense_ranking(self, query_vector: np.ndarray, source: str | None, doc_id: str | None) -> Ranking:
        mask = self.mask(source, doc_id)
        return PostgresRanking(self, vector_literal(query_vector), source, doc_id,
                               self.size if mask is None else int(mask.sum()))

    def nearest(self, vector: str, count: int, source: str | None, doc_id: str | None,
                exact: bool) -> tuple[np.ndarray, np.ndarray]:
        """The `count` chunks nearest to `vector` (cosine) in Postgres, best first, as rows of this index, with
        their cosine similarity (the inner product of unit vectors, as the memory backend scores). `exact`:
        a sequential scan, every allowed vector compared; else the HNSW index."""
        import psycopg2

        where, params = ["model_id = %s"], [self.model_ids[0]]  # the Retriever checked: one model, its own
        # only the model this snapshot was checked for: a rebuild with another model, not yet refreshed, finds
        # nothing rather than vectors of another space (the refresh then refuses it: RetrieverError)
        for column, value in (("source", source), ("doc_id", doc_id)):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        try:
            with _pool(self.server).connection() as con, con.cursor() as cursor:
                # one round trip: the session's settings for this query (each query sets them all), then the
                # query; exact: no index scan (HNSW is one), so a sequential scan compares every allowed vector;
                # no JIT: an exact scan's cost estimate passes its threshold, and compiling costs more than it saves
                cursor.execute(
                    f"""
                    set jit = off;
                    set enable_indexscan = {'off' if exact else 'on'};
                    set hnsw.ef_search = {min(max(EF_SEARCH, count), EF_SEARCH_MAX):d};
                    select source, doc_id, chunk_id, -(embedding <#> %s::vector) as score
                    from search_chunks
                    where {' and '.join(where)}
                    order by embedding <=> %s::vector
                    limit %s
                    """,
                    [vector, *params, vector, count],
                )
                rows = cursor.fetchall()
        except psycopg2.Error as exc:
            raise _postgres_error(self.server, exc) from None
        # a row of a table built since this snapshot was read (until the refresher swaps the new one in) is
        # not in it: skipped
        found = [(self.positions[key], score) for key, score in ((tuple(row[:3]), row[3]) for row in rows)
                 if key in self.positions]
        chunks = np.array([row for row, _ in found], np.int64)
        scores = np.array([score for _, score in found], np.float32)  # float32, as the memory backend's
        order = np.lexsort((chunks, -scores))  # ties (a repeated text's chunks) by row, as the memory backend
        return chunks[order], scores[order]

    def chunk_vectors(self, rows: np.ndarray) -> np.ndarray:
        import psycopg2

        keys = [(self.sources[row], self.doc_ids[row], self.chunk_ids[row]) for row in rows]
        try:
            with _pool(self.server).connection() as con, con.cursor() as cursor:
                cursor.execute(
                    "select source, doc_id, chunk_id, embedding::text from search_chunks "
                    "where doc_id = any(%s) and model_id = any(%s)",
                    [sorted({key[1] for key in keys}), self.model_ids],
                )
                found = {tuple(key): text for *key, text in cursor.fetchall()}
        except psycopg2.Error as exc:
            raise _postgres_error(self.server, exc) from None
        missing = [key for key in keys if key not in found]
        if missing:
            raise RetrieverError(f"{len(missing)} chunks are no longer in search_chunks on {self.server}: "
                                 "it was rebuilt; the service reloads it within SEARCH_REFRESH_SECONDS")
        return np.array([np.array(found[key][1:-1].split(","), np.float32) for key in keys], np.float32)


class PostgresRanking(Ranking):
    """One query's dense ranking in Postgres: each `top(count)` one query on the HNSW index (ef_search at least
    `count`), or an exact sequential scan when the index cannot be trusted to find `count` rows:

    - pgvector 0.6's HNSW scan collects ef_search candidates and only then applies the WHERE clause, so a filter
      (source, doc_id) can leave fewer than `count` rows even though more match: when that happens (fewer rows
      than asked and than the filters allow) the same query runs again exact. A selective filter (one document,
      a small corpus) then costs a scan of the table's filter columns plus the matching vectors; an unselective
      one (source=corpus) is served by the index.
    - more than EF_SEARCH_MAX (1000) rows asked: beyond what HNSW can return, exact.
    """

    def __init__(self, index: PostgresIndex, vector: str, source: str | None, doc_id: str | None, allowed: int):
        self.index, self.vector, self.source, self.doc_id = index, vector, source, doc_id
        self.allowed = allowed
        self.exact_runs = 0  # how many queries went exact (tests and the benchmark read it)

    def top(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        count = min(count, self.allowed)
        if count <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if count <= EF_SEARCH_MAX:
            chunks, scores = self.index.nearest(self.vector, count, self.source, self.doc_id, exact=False)
            if len(chunks) >= count:
                return chunks, scores
        self.exact_runs += 1
        return self.index.nearest(self.vector, count, self.source, self.doc_id, exact=True)


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
        if model is None or backend is None or (backend == "memory" and published_path is None) or (
                backend == "postgres" and postgres is None):
            settings = Settings.from_env()
            backend = backend or settings.search_backend
            model = model or settings_model(settings)
        self.backend = check_search_backend(backend)
        self.model: ModelSpec = model
        self.mode = self._check_mode(mode)
        if backend == "postgres":
            if postgres is None:
                from warehouse.local_postgres import connection

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
    from pipeline.publish import published_file_key

    return PostgresIndex.key if backend == "postgres" else (lambda path: published_file_key(Path(path)))
