"""The `postgres` backend: `PostgresIndex`, the warehouse's `search_chunks` on Postgres (DBT_TARGET=postgres).

Dense search runs there on pgvector's HNSW index (cosine; approximate, recall measured in docs/postgres.md); the
vectors are never loaded. The rest of each row (ids, texts, pages) is read once into memory, as for `memory`, so
BM25 and hybrid stay the same in-memory bm25s over the same texts (Postgres has no BM25: its full-text `ts_rank`
is another ranking function, and refusing two of the three modes would make the backend a worse service), and
`/documents/{id}/chunks` answers from it. The refresher reloads that when dbt swaps in a new table. Each process
keeps one connection pool per server (`_pool`), shared by every Retriever and index reading it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from search.memory_index import SearchIndex
from search.results import RetrieverError
from search.scoring import Ranking

log = logging.getLogger(__name__)

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
                cursor.execute(
                    "select oid::bigint, relfilenode::bigint from pg_class where oid = to_regclass('search_chunks')"
                )
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
        log.info(
            "loaded %d chunks (without vectors) from %s in %.2fs", index.size, server, time.perf_counter() - started
        )
        return index

    def dense_ranking(self, query_vector: np.ndarray, source: str | None, doc_id: str | None) -> Ranking:
        mask = self.mask(source, doc_id)
        return PostgresRanking(
            self, vector_literal(query_vector), source, doc_id, self.size if mask is None else int(mask.sum())
        )

    def nearest(
        self, vector: str, count: int, source: str | None, doc_id: str | None, exact: bool
    ) -> tuple[np.ndarray, np.ndarray]:
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
                    set enable_indexscan = {"off" if exact else "on"};
                    set hnsw.ef_search = {min(max(EF_SEARCH, count), EF_SEARCH_MAX):d};
                    select source, doc_id, chunk_id, -(embedding <#> %s::vector) as score
                    from search_chunks
                    where {" and ".join(where)}
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
        found = [
            (self.positions[key], score)
            for key, score in ((tuple(row[:3]), row[3]) for row in rows)
            if key in self.positions
        ]
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
            raise RetrieverError(
                f"{len(missing)} chunks are no longer in search_chunks on {self.server}: "
                "it was rebuilt; the service reloads it within SEARCH_REFRESH_SECONDS"
            )
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
