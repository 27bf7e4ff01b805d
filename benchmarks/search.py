"""Search latency: `python -m benchmarks.search [--scale 100000] [--http-seconds 30] [--clients 20]`.

(a) `Retriever.search(query, k=10)` per mode, query encoding included, at the published index's size and at
    `--scale` vectors (the real index plus synthetic unit vectors, and synthetic texts drawn from the real
    vocabulary so BM25 scores over as many documents): p50/p95/p99 over the judged queries, repeated.
(b) `GET /search` under `--clients` concurrent clients on loopback for `--http-seconds`: the service
    (`python -m serving.api`, as `make serve` runs it) in a subprocess over the same published index.

Reads the published index of DUCKDB_PATH (PUBLISHED_PATH); queries are the judged queries of the warehouse's
corpora (or a fixed list when there are none). Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.machine import describe_machine
from benchmarks.service import percentiles, start_service, stop_service
from core.settings import Settings
from embeddings.model_source import settings_model
from search.memory_index import SearchIndex
from search.results import MODES
from search.retriever import Retriever
from warehouse import Warehouse, target_warehouse

FALLBACK_QUERIES = [
    "what is the interest rate",
    "how are payments made",
    "definition of default",
    "who is the issuer",
    "tax treatment of the notes",
    "risk factors",
    "governing law",
    "redemption at the option of the holder",
]


def benchmark_queries(warehouse: Warehouse) -> list[str]:
    try:
        with warehouse.open(read_only=True) as con:
            queries = [
                row[0]
                for row in con.execute("select query_text from corpus_queries order by corpus, query_id").fetchall()
            ]
    except Exception:  # no warehouse or no corpus marts: the fixed list still measures the mechanics
        queries = []
    return queries or FALLBACK_QUERIES


def scaled_index(index: SearchIndex, size: int, seed: int = 0) -> SearchIndex:
    """The real index plus synthetic rows up to `size`: random unit vectors, texts of real words."""
    extra = size - index.size
    if extra <= 0:
        return index
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((extra, index.vectors.shape[1]), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vocabulary = np.array(sorted({word for text in index.texts for word in text.split() if word.isalpha()}))
    lengths = rng.integers(30, 90, size=extra)  # MS MARCO passages are ~60 words
    texts = [" ".join(vocabulary[rng.integers(0, len(vocabulary), size=n)]) for n in lengths]
    synthetic_ids = np.array([f"synthetic-{i}" for i in range(extra)], dtype=object)
    scaled = replace(
        index,
        result_ids=np.concatenate([index.result_ids, synthetic_ids]),
        texts=index.texts + texts,
        sources=np.concatenate([index.sources, np.full(extra, "corpus", dtype=object)]),
        doc_ids=np.concatenate([index.doc_ids, np.full(extra, "synthetic", dtype=object)]),
        chunk_ids=index.chunk_ids + ["0-0"] * extra,
        pages=index.pages + [None] * extra,
        vectors=np.vstack([index.vectors, vectors]),
    )
    scaled._build_bm25()
    return scaled


def measure_modes(retriever: Retriever, queries: list[str], rounds: int) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {}
    for mode in MODES:
        retriever.search(queries[0], 10, mode=mode)  # first call pays lazy initialisation
        seconds = []
        for _ in range(rounds):
            for text in queries:
                started = time.perf_counter()
                retriever.search(text, 10, mode=mode)
                seconds.append(1000 * (time.perf_counter() - started))
        latencies[mode] = seconds
    return latencies


async def load_test(url: str, queries: list[str], clients: int, seconds: float) -> tuple[list[float], int, int]:
    import httpx

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(number: int, http: httpx.AsyncClient) -> None:
        nonlocal errors
        turn = number
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await http.get(url, params={"q": queries[turn % len(queries)], "k": 10})
            latencies.append(1000 * (time.perf_counter() - started))
            errors += response.status_code != 200
            turn += clients

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        await asyncio.gather(*(client(number, http) for number in range(clients)))
    return latencies, len(latencies), errors


def measure_http(published_path: Path, queries: list[str], clients: int, seconds: float) -> str:
    import httpx

    server, base = start_service(published_path, lambda health: health.get("status") == "ok", "become healthy")
    try:
        httpx.get(f"{base}/search", params={"q": queries[0], "k": 10}, timeout=60)  # warm-up
        latencies, requests, errors = asyncio.run(load_test(f"{base}/search", queries, clients, seconds))
        return (
            f"GET /search, {clients} concurrent clients, {seconds:.0f} s: {requests / seconds:.1f} requests/s, "
            f"{errors} errors\n  {percentiles(latencies)}"
        )
    finally:
        stop_service(server)


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100_000, help="index size of the scaled run")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the queries per mode")
    parser.add_argument("--http-seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args(argv)

    print(f"machine: {describe_machine()}")
    retriever = Retriever(settings.published_path, settings_model(settings), query_cache_size=0)  # encoder timed
    retriever.warm_up()
    queries = benchmark_queries(target_warehouse(settings))
    print(
        f"index {settings.published_path}: {retriever.index.size:,} chunks, "
        f"model {', '.join(retriever.index.model_ids)}; "
        f"{len(queries)} queries x {args.rounds} rounds, k=10"
    )
    real_size = retriever.index.size
    for size in (real_size, args.scale):
        if size != real_size:
            started = time.perf_counter()
            retriever.index = scaled_index(retriever.index, size)
            print(f"scaled to {retriever.index.size:,} vectors (+ BM25 index) in {time.perf_counter() - started:.1f} s")
        for mode, latencies in measure_modes(retriever, queries, args.rounds).items():
            print(f"  Retriever.search {mode:<6} at {retriever.index.size:>7,} vectors: {percentiles(latencies)}")
        encode = []
        for text in queries:
            started = time.perf_counter()
            retriever.encode_query(text)
            encode.append(1000 * (time.perf_counter() - started))
    print(f"  of which query encoding: {percentiles(encode)}")
    if args.http_seconds > 0:
        print(measure_http(settings.published_path, queries, args.clients, args.http_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
