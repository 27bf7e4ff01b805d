"""pgvector HNSW vs exact in-memory search: `python -m benchmarks.pgvector [--scale 100000] [--rounds 5]`.

(a) Recall@10 of the Postgres backend (HNSW) against exact search on the real corpus's judged queries (the
    queries of the warehouse's corpora: msmarco-trec-dl's 43 TREC DL 2019 queries) over the warehouse's real
    `search_chunks` (30,005 passages and the documents' chunks: everything the service searches), per
    `hnsw.ef_search`: result ids of `Retriever.search(k=10)` against the in-memory backend's (what a user sees
    when switching backends) / chunks of the HNSW scan against an exact scan of the same table (the index's own
    error, no float rounding involved). An exact tie with the exact 10th score counts as found.
(b) At `--scale` vectors (the real chunks plus synthetic unit vectors and texts, as benchmarks.search's
    `scaled_index`): the dense ranking alone (query vectors encoded beforehand, deduplicated to 10 results)
    p50/p95/p99 in memory (exact) and in Postgres per ef_search, with recall@10 at that size; then
    `Retriever.search(k=10)` dense per backend, query encoding included.

The vectors are not encoded again: they are read from the DuckDB warehouse at DUCKDB_PATH (built by
`make run` with `DATA_DIR=../shared/data`; about 15 minutes of encoding) through its published form, and
copied into `search_chunks` of a database `pgvector_bench` (vector(384), the same HNSW index as
macros/vectors.sql `vector_index`: `using hnsw (embedding vector_cosine_ops)`, pgvector's defaults m 16,
ef_construction 64). The server: PG* when PGHOST is set (the database is created there and dropped after),
else a throwaway local server under .engines/postgres-bench/, stopped and removed after. Prints figures;
asserts nothing about time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.machine import Stopwatch, describe_machine, share
from benchmarks.search import benchmark_queries, scaled_index
from benchmarks.service import percentiles
from core.settings import PROJECT_ROOT, Settings
from embeddings.model_source import settings_model
from pipeline.publish import publish
from search import pgvector
from search.memory_index import SearchIndex
from search.retriever import Retriever
from warehouse import DuckDBWarehouse
from warehouse.postgres import postgres_extension

BENCH_DATABASE = "pgvector_bench"
EF_SEARCH_SETTINGS = (40, 100, 200, 400)  # pgvector's default 40 ... the Retriever's (EF_SEARCH) is marked


def bench_server(settings: Settings):
    """(the bench database's Connection, a function that cleans up): on PG* when set, else a throwaway server."""
    import shutil

    import psycopg2

    from warehouse.local_postgres import LocalPostgres

    local = None
    if settings.postgres_server is not None:
        server = settings.postgres_server
    else:
        local = LocalPostgres(PROJECT_ROOT / ".engines" / "postgres-bench")
        local.stop()
        shutil.rmtree(local.state_dir, ignore_errors=True)
        server = local.start()
    admin = psycopg2.connect(server.dsn())
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"drop database if exists {BENCH_DATABASE}")
        cursor.execute(f"create database {BENCH_DATABASE}")
    bench = replace(server, dbname=BENCH_DATABASE)
    con = psycopg2.connect(bench.dsn())
    con.autocommit = True
    with con.cursor() as cursor:
        cursor.execute("create extension if not exists vector")
    con.close()

    def clean_up() -> None:
        pgvector._pools.pop(bench.dsn(), None)  # its connections close with it
        import gc

        gc.collect()
        with admin.cursor() as cursor:
            cursor.execute(f"drop database if exists {BENCH_DATABASE} with (force)")
        admin.close()
        if local is not None:
            local.stop()
            shutil.rmtree(local.state_dir, ignore_errors=True)

    return bench, clean_up


def copy_to_postgres(index: SearchIndex, server) -> float:
    """`index`'s rows as search_chunks on `server` (vector(384), HNSW cosine index); seconds the index took."""
    import duckdb
    import psycopg2
    import pyarrow as pa

    dim = index.vectors.shape[1]
    order = np.arange(index.size)
    table = pa.table(
        {
            "source": pa.array(index.sources.tolist(), pa.string()),
            "doc_id": pa.array(index.doc_ids.tolist(), pa.string()),
            # scaled_index gives every synthetic row chunk "0-0": made unique, as a chunk's key is
            "chunk_id": pa.array(
                [
                    chunk if doc != "synthetic" else f"{chunk}#{row}"
                    for row, (chunk, doc) in enumerate(zip(index.chunk_ids, index.doc_ids))
                ],
                pa.string(),
            ),
            "result_id": pa.array(index.result_ids.tolist(), pa.string()),
            "chunk_index": pa.array(order, pa.int32()),  # the index's order: the loaded snapshot keeps it
            "source_position": pa.array(np.zeros(index.size, np.int32)),
            "text": pa.array(index.texts, pa.string()),
            "pages": pa.array(index.pages, pa.list_(pa.int32())),
            "model_id": pa.array([index.model_ids[0]] * index.size, pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(index.vectors.reshape(-1)), dim),
        }
    )
    con = psycopg2.connect(server.dsn())
    con.autocommit = True
    with con.cursor() as cursor:
        cursor.execute("drop table if exists search_chunks")
    duck = duckdb.connect()
    duck.execute(f"load '{postgres_extension()}'")
    duck.execute(f"attach '{server.dsn()}' as pg (type postgres)")
    duck.register("rows", table)
    # the vectors as pgvector's text form, cast in Postgres (as the dbt model's as_vector does)
    duck.execute(
        "create table pg.public.search_chunks as select * replace (cast(embedding as varchar) as embedding) from rows"
    )
    duck.close()
    with con.cursor() as cursor:
        cursor.execute(
            f"alter table search_chunks alter column embedding type vector({dim}) using embedding::vector({dim})"
        )
        cursor.execute("set maintenance_work_mem = '1GB'")  # the graph in memory: no slow spill past 64 MB
        started = time.perf_counter()
        cursor.execute(
            "create index search_chunks_embedding_hnsw on search_chunks using hnsw (embedding vector_cosine_ops)"
        )
        seconds = time.perf_counter() - started
        cursor.execute("analyze search_chunks")
    con.close()
    return seconds


def query_plan(server, vector: np.ndarray) -> str:
    """The node that reads search_chunks in the plan of the Retriever's query (the HNSW index, not a scan)."""
    import psycopg2

    con = psycopg2.connect(server.dsn())
    try:
        with con.cursor() as cursor:
            cursor.execute(
                f"set hnsw.ef_search = {pgvector.EF_SEARCH}; explain select chunk_id from search_chunks "
                "order by embedding <=> %s::vector limit 30",
                [pgvector.vector_literal(vector)],
            )
            lines = [row[0].strip(" ->") for row in cursor.fetchall()]
    finally:
        con.close()
    return next((line for line in lines if "search_chunks" in line), lines[0])


def tie_aware_recall(found: list[tuple[str, float]], exact: list[tuple[str, float]]) -> float:
    """recall@k of (id, score) pairs against the exact ones; a found item scoring as high as the exact k-th (an
    exact tie: MS MARCO repeats passages, the documents repeat texts) counts as found."""
    ids = {item for item, _ in exact}
    floor = min(score for _, score in exact) - 1e-5
    return sum(item in ids or score >= floor for item, score in found) / len(exact)


def recall(
    memory: Retriever, postgres: Retriever, vectors: list[np.ndarray], queries: list[str]
) -> tuple[float, float]:
    """Mean recall@10 of (result ids of Retriever.search vs the memory backend's, chunks of the HNSW scan vs an
    exact scan of the same table)."""
    by_results, by_chunks = [], []
    index = postgres.index
    for text, vector in zip(queries, vectors):
        exact = [(r.document_id, r.score) for r in memory.search(text, 10)]
        found = [(r.document_id, r.score) for r in postgres.search(text, 10)]
        by_results.append(tie_aware_recall(found, exact))
        literal = pgvector.vector_literal(vector)
        hnsw = zip(*index.nearest(literal, 10, None, None, exact=False))
        scan = zip(*index.nearest(literal, 10, None, None, exact=True))
        by_chunks.append(tie_aware_recall(list(hnsw), list(scan)))
    return float(np.mean(by_results)), float(np.mean(by_chunks))


def ranking_latency(retriever: Retriever, vectors: list[np.ndarray], rounds: int) -> list[float]:
    """The dense ranking alone, deduplicated to 10 results (query vectors encoded beforehand), in milliseconds."""
    index = retriever.index
    retriever._dedupe(index, index.dense_ranking(vectors[0], None, None), 10)
    seconds = []
    for _ in range(rounds):
        for vector in vectors:
            started = time.perf_counter()
            retriever._dedupe(index, index.dense_ranking(vector, None, None), 10)
            seconds.append(1000 * (time.perf_counter() - started))
    return seconds


def search_latency(retriever: Retriever, queries: list[str], rounds: int) -> list[float]:
    """Retriever.search dense, k=10, query encoding included, in milliseconds."""
    retriever.search(queries[0], 10)
    seconds = []
    for _ in range(rounds):
        for text in queries:
            started = time.perf_counter()
            retriever.search(text, 10)
            seconds.append(1000 * (time.perf_counter() - started))
    return seconds


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pgvector", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100_000, help="index size of the latency run")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the queries per backend")
    args = parser.parse_args(argv)

    print(f"machine: {describe_machine()}")
    model = settings_model(settings)
    warehouse = DuckDBWarehouse(settings.duckdb_path)  # the vectors come from the DuckDB warehouse
    queries = benchmark_queries(warehouse)
    with tempfile.TemporaryDirectory() as scratch:
        published = Path(scratch) / "published.duckdb"
        publish(warehouse, published)
        memory = Retriever(published, model, backend="memory")
    memory.warm_up()
    vectors = [memory.encode_query(text) for text in queries]
    server, clean_up = bench_server(settings)
    try:
        print(
            f"warehouse {warehouse}: {memory.index.size:,} chunks, model {model.model_id}; "
            f"{len(queries)} judged queries, k=10; Postgres {server}"
        )
        seconds = copy_to_postgres(memory.index, server)
        print(f"(a) HNSW index over {memory.index.size:,} real vectors built in {seconds:.1f} s")
        postgres = Retriever(model=model, backend="postgres", postgres=server)
        print(f"  plan: {query_plan(server, vectors[0])}")
        default = pgvector.EF_SEARCH
        for ef_search in EF_SEARCH_SETTINGS:
            pgvector.EF_SEARCH = ef_search
            by_results, by_chunks = recall(memory, postgres, vectors, queries)
            print(
                f"  ef_search {ef_search:>4}{' (default)' if ef_search == default else '':<10}: recall@10 "
                f"{by_results:.3f} (Retriever.search vs in-memory exact), {by_chunks:.3f} (HNSW scan vs exact scan)"
            )
        pgvector.EF_SEARCH = default

        started = time.perf_counter()
        memory.index = scaled_index(memory.index, args.scale)
        print(f"(b) scaled to {memory.index.size:,} vectors in {time.perf_counter() - started:.1f} s")
        seconds = copy_to_postgres(memory.index, server)
        print(f"  HNSW index over {memory.index.size:,} vectors built in {seconds:.1f} s")
        postgres = Retriever(model=model, backend="postgres", postgres=server)
        print(f"  plan: {query_plan(server, vectors[0])}")
        with Stopwatch() as watch:
            exact = ranking_latency(memory, vectors, args.rounds)
        print(
            f"  memory (exact, torch.mv)  dense ranking alone: {percentiles(exact)}  "
            f"[other processes: {share(watch.foreign)}]"
        )
        for ef_search in EF_SEARCH_SETTINGS:
            pgvector.EF_SEARCH = ef_search
            by_results, by_chunks = recall(memory, postgres, vectors, queries)
            with Stopwatch() as watch:
                hnsw = ranking_latency(postgres, vectors, args.rounds)
            print(
                f"  postgres HNSW ef_search {ef_search:>4}{'*' if ef_search == default else ' '} "
                f"dense ranking alone: {percentiles(hnsw)}  recall@10 {by_results:.3f} / {by_chunks:.3f}  "
                f"[other processes, the server included: {share(watch.foreign)}]"
            )
        pgvector.EF_SEARCH = default
        for name, retriever in (("memory", memory), ("postgres", postgres)):
            with Stopwatch() as watch:
                searches = search_latency(retriever, queries, args.rounds)
            print(
                f"  Retriever.search dense, {name:<8} at {retriever.index.size:,} (query encoding included): "
                f"{percentiles(searches)}  [other processes: {share(watch.foreign)}]"
            )
    finally:
        clean_up()
    return 0


if __name__ == "__main__":
    sys.exit(main())
