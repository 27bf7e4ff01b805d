"""Score pipeline benchmark: `python -m benchmarks.scores [--small 10] [--large 500] [--recompute 150] [--rows 10000]
[--workdir DIR]`.

(a) Incremental cost of one new batch against history size. Two scratch warehouses are filled with synthetic
    batches (`--small` and `--large` batches of history), fully built once (untimed), then one new batch is landed
    and `dbt build` is timed as the scheduler runs it (`--vars {test_since_batch: <new batch>}`: data tests on
    the append-only tables check the new batch's rows); a further batch is landed and `dbt run` (models only) is
    timed, then `dbt test` on every row (the periodic full audit), so the growth can be pinned on tests or on
    models. If the incremental models really only touch the new batch, the large/small ratios stay near 1.
(b) Throughput of the percentile SQL against a plain pandas implementation, over `--recompute` batches (default
    150, issue 15's bar; a warehouse of its own holding the first 150 batches, built untimed, or a copy of the
    large one taken right after its full build when it has as many): the full-refresh form of
    `percentile_history`, run directly in DuckDB and through `dbt run --full-refresh`, in (iteration, id) rows
    per second.

Everything lives in a scratch folder (a fresh temporary one unless `--workdir` is given) with its own DuckDB
files; dbt runs as a subprocess, as `make build` runs it, on this checkout's models unless `--project-dir` points
at another copy of the project (e.g. a `git archive` of a commit, to measure it while the tree is being edited).

One module per job: `data` (synthetic batches, landing), `dbt_timing` (timed dbt runs), `incremental` (a),
`pandas_baseline` and `throughput` (b), `report` (the summary), `__main__` (the command line).
"""

from __future__ import annotations

import time

_START = time.perf_counter()


def log(message: str = "") -> None:
    """A progress line stamped with the seconds since the benchmark started."""
    print(f"[{time.perf_counter() - _START:7.1f}s] {message}" if message else "", flush=True)
