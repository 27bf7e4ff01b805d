"""The service under load, measured by a compiled load generator: `python -m benchmarks.load` (`make bench-load`).

`wrk` (Debian's package; C, event-driven) drives the service as `make serve` runs it (`python -m serving.api`,
over the published copy PUBLISHED_PATH) on the same machine, so the client does not take the cores a Python
client would: a closed loop of N connections for a fixed time per endpoint, each request for a random real
value (a handle of the published `user_interest_scores`, a judged query of the warehouse's corpora), latencies
recorded by wrk (HdrHistogram) and read out through its Lua `done()` hook.

- `GET /interests/{handle}` under `--interests-clients` (50) connections: issue 15's bar is p99 < 10 ms, 0 errors.
- `GET /search?q=...&k=10` (dense) under `--search-clients` (20) connections: the bar is 3x 56.5 requests/s
  (what the torch query encoder held), p95 < 150 ms, 0 errors. Two runs: `search`, the judged queries drawn at
  random as before (the service's query-vector cache answers all but each text's first request), and
  `search-distinct`, every request's text made new by a number appended to it, so the cache never answers and
  every request encodes its query.

Prints the figures against those bars; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

from benchmarks.interests import published_handles
from benchmarks.machine import describe_machine
from benchmarks.search import benchmark_queries
from benchmarks.service import start_service, stop_service
from core.settings import Settings
from warehouse import Warehouse, target_warehouse

SEARCH_BASELINE_RPS = 56.5  # GET /search with the torch query encoder (docs/benchmarks.md), the 3x bar's base
SEARCH_BARS = {"p95_ms": 150.0, "rps": 3 * SEARCH_BASELINE_RPS}
BARS = {"interests": {"p99_ms": 10.0}, "search": SEARCH_BARS, "search-distinct": SEARCH_BARS}
SCENARIOS = tuple(BARS)

# wrk's Lua side: a random path of the list per request, non-2xx answers counted, the latency distribution and
# totals written as one JSON line at the end (wrk's own summary has no p95)
WRK_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("LOAD_PATHS")) do paths[#paths + 1] = line end
local bad = 0
local distinct = os.getenv("LOAD_DISTINCT") == "1"
local sent = 0
local threads = 0
setup = function(thread)  -- each wrk thread numbers its texts in its own range
  threads = threads + 1
  thread:set("range", threads)
end
request = function()
  local path = paths[math.random(#paths)]
  if distinct then  -- a number appended to the query (the last parameter): a text no cache has seen
    sent = sent + 1
    path = path .. "+" .. (range or 1) .. "-" .. sent
  end
  return wrk.format("GET", path)
end
response = function(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %f, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_ms": %f, "p95_ms": %f, "p99_ms": %f, "max_ms": %f}\\n',
    summary.requests, summary.duration / 1e6, bad + (summary.errors.status or 0),
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
"""


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk not found: `make bench-load` installs it (Debian: apt-get install wrk)")
    return found


def interest_paths(published_path: Path, count: int, rng: random.Random) -> list[str]:
    handles = published_handles(published_path)
    if not handles:
        raise SystemExit(f"{published_path} has no user_interest_scores rows: run `make run` first")
    return [f"/interests/{urllib.parse.quote(handle, safe='')}" for handle in rng.choices(handles, k=count)]


def search_paths(warehouse: Warehouse, count: int, rng: random.Random) -> list[str]:
    """The judged queries of the warehouse's corpora (what benchmarks.search measures in process)."""
    # q last: the distinct-query run appends to it
    return [
        f"/search?{urllib.parse.urlencode({'k': 10, 'mode': 'dense', 'q': q})}"
        for q in rng.choices(benchmark_queries(warehouse), k=count)
    ]


def run_wrk(base: str, paths: list[str], clients: int, seconds: float, threads: int, distinct: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_load_") as folder:
        script, listing = Path(folder) / "load.lua", Path(folder) / "paths.txt"
        script.write_text(WRK_SCRIPT)
        listing.write_text("\n".join(paths) + "\n")
        completed = subprocess.run(
            [
                wrk_path(),
                f"--threads={threads}",
                f"--connections={clients}",
                f"--duration={seconds:.0f}s",
                "--timeout=10s",
                f"--script={script}",
                base,
            ],
            capture_output=True,
            text=True,
            env={"LOAD_PATHS": str(listing), "LOAD_DISTINCT": "1" if distinct else "0", "PATH": "/usr/bin:/bin"},
            check=True,
        )
    line = next(line for line in completed.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / result["seconds"]
    return result


def report(name: str, clients: int, result: dict) -> str:
    bars = BARS[name]
    verdicts = []
    if "p99_ms" in bars:
        verdicts.append(f"p99 < {bars['p99_ms']:.0f} ms: {'met' if result['p99_ms'] < bars['p99_ms'] else 'MISSED'}")
    if "p95_ms" in bars:
        verdicts.append(f"p95 < {bars['p95_ms']:.0f} ms: {'met' if result['p95_ms'] < bars['p95_ms'] else 'MISSED'}")
    if "rps" in bars:
        verdicts.append(
            f">= {bars['rps']:.1f} requests/s ({result['rps'] / SEARCH_BASELINE_RPS:.2f}x "
            f"{SEARCH_BASELINE_RPS}): {'met' if result['rps'] >= bars['rps'] else 'MISSED'}"
        )
    errors = result["non_2xx"] + result["socket_errors"]
    verdicts.append(f"0 errors: {'met' if errors == 0 else 'MISSED'}")
    return (
        f"{name}: {clients} connections, {result['seconds']:.0f} s, {result['requests']:,} requests, "
        f"{result['rps']:,.1f} requests/s, {result['non_2xx']} non-2xx, {result['socket_errors']} socket errors\n"
        f"  p50 {result['p50_ms']:.1f} ms  p95 {result['p95_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms  "
        f"max {result['max_ms']:.1f} ms\n  " + "; ".join(verdicts)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="load time per endpoint")
    parser.add_argument("--interests-clients", type=int, default=50)
    parser.add_argument("--search-clients", type=int, default=20)
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk's threads (each drives its connections)")
    parser.add_argument(
        "--workers", type=int, default=None, help="uvicorn worker processes (default: SERVE_WORKERS, as `make serve`)"
    )
    parser.add_argument("--endpoints", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    args = parser.parse_args(argv)
    wrk_path()  # before starting anything
    settings = Settings.from_env()
    published = settings.published_path
    workers = settings.serve_workers if args.workers is None else args.workers
    rng = random.Random(0)
    print(f"machine: {describe_machine()}; service over {published}, {workers} worker(s)", flush=True)
    server, base = start_service(
        published, lambda health: health.get("status") == "ok", "become healthy", workers=workers
    )
    try:
        for name in args.endpoints:
            paths = (
                interest_paths(published, 5_000, rng)
                if name == "interests"
                else search_paths(target_warehouse(settings), 5_000, rng)
            )
            clients = args.interests_clients if name == "interests" else args.search_clients
            distinct = name == "search-distinct"
            run_wrk(base, paths[:200], clients, 3, args.wrk_threads, distinct)  # warm-up: encoder, caches, JIT paths
            result = run_wrk(base, paths, clients, args.seconds, args.wrk_threads, distinct)
            print(report(name, clients, result), flush=True)
    finally:
        stop_service(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
