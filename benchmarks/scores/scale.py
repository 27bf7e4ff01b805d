"""The score pipeline at scale on every engine: `python -m benchmarks.engines scores` (`make bench-engines`).

Per target one warehouse grows through the sizes. At each size N the synthetic batches 0..N are landed into a
DuckDB file through the project's loaders; then each target in turn rebuilds the score pipeline's seed and models
from batches 0..N-1 (`dbt build --full-refresh`, tests left out: every iteration's percentiles), in rows/s of raw
input, and, after batch N arrives, runs the same build without --full-refresh (seconds per new batch). A target's
two runs follow each other, so one target measured alone gives the same figures as all of them together.

The DuckDB file is the DuckDB target's warehouse (its batch N waits in a side table until it arrives). The other
engines get the same landed rows, not a landing of their own (landing is not what is timed here): Postgres as a
copy of the raw tables into a database of a throwaway local server (or PGHOST's), Spark as a copy of the ledger
mirrored to Parquet. Peak memory is the largest summed RSS of the dbt process tree (dbt-duckdb and its database;
the Spark launcher and its JVM; dbt-postgres with the server's processes) during a run.

With `--pandas`, DuckDB's rebuild is followed by what a user would write instead (`pandas_rebuild`: the loop over
the same clean rows, its frame written to a DuckDB table), in a process of its own, timed and measured alike.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from pathlib import Path

import psutil

from benchmarks.machine import share
from benchmarks.scores import log
from benchmarks.scores.data import generate, land, postgres_server
from benchmarks.scores.dbt_timing import SCORE_PIPELINE, Dbt
from core.settings import PROJECT_ROOT
from landing.land import ensure_raw_tables
from warehouse import DuckDBWarehouse, PostgresWarehouse
from warehouse.duckdb_file import connect
from warehouse.postgres import create_database
from warehouse.spark import SparkWarehouse, mirror_raw

TARGETS = ("duckdb", "postgres", "spark")
# the pipeline's seed and models, without its tests: what is timed is the work of computing the marts
SCORE_MODELS = [*SCORE_PIPELINE.split(), "--resource-type", "model", "--resource-type", "seed"]


class PeakMemory:
    """The largest summed RSS of this process's descendants (the dbt subprocess tree) while the block runs, plus
    the processes of `also` (a Postgres server's, whose backends do the work)."""

    def __init__(self, every: float = 0.25, also: int | None = None):
        self.every, self.peak, self.also, self._stop = every, 0, also, threading.Event()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            processes = me.children(recursive=True)
            with contextlib.suppress(psutil.Error):
                if self.also:
                    server = psutil.Process(self.also)
                    processes += [server, *server.children(recursive=True)]
            total = 0
            for process in processes:
                with contextlib.suppress(psutil.Error):
                    total += process.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(self.every)

    def __enter__(self) -> PeakMemory:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def timed_run(dbt: Dbt, label: str, *args: str, server_pid: int | None = None) -> dict:
    with PeakMemory(also=server_pid) as memory:
        run = dbt(label, *args)
    return {"wall": run.wall, "elapsed": run.elapsed, "peak_gib": memory.peak / 1024**3, "foreign": run.foreign}


def pandas_rebuild(duckdb_path: Path, scratch: Path) -> dict:
    """The pandas loop and its write over the warehouse's clean rows, in a process of its own (benchmarks.scores.
    pandas_rebuild), with its peak RSS."""
    with PeakMemory() as memory:
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.scores.pandas_rebuild", str(duckdb_path), str(scratch)],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
        )
    line = next((line for line in result.stdout.splitlines() if line.startswith("RESULT")), None)
    if result.returncode or line is None:
        raise RuntimeError(f"pandas_rebuild failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    _, seconds, rows, write_seconds = line.split()
    return {"wall": float(seconds), "rows": int(rows), "write": float(write_seconds), "peak_gib": memory.peak / 1024**3}


def bench_scale(sizes: list[int], rows: int, targets: list[str], workdir: Path, pandas: bool = False) -> list[dict]:
    paths = _batch_files(workdir / "batches", max(sizes) + 1, rows)
    landed_source = DuckDBWarehouse(workdir / "duckdb" / "warehouse.duckdb")
    warehouses: dict[str, object] = {"duckdb": landed_source, "spark": SparkWarehouse(workdir / "spark")}
    # a workdir kept from a run at smaller sizes (--workdir) grows on from what it has already landed
    results, landed = [], _landed_batches(landed_source.path) if landed_source.path.is_file() else 0
    with contextlib.ExitStack() as stack:
        server_pid = None
        if "postgres" in targets:
            (workdir / "postgres").mkdir(parents=True, exist_ok=True)
            workdir.chmod(workdir.stat().st_mode | 0o055)  # the server's own user reads the folders above its data
            server, stop = postgres_server(workdir / "postgres")
            stack.callback(stop)
            warehouses["postgres"] = PostgresWarehouse(create_database(server, "bench_engines", fresh=True))
            server_pid = _server_pid(server)
        for size in sizes:
            log(f"landing batches {landed}..{size} into DuckDB")
            land(landed_source, paths[landed : size + 1], progress_every=500)  # the N batches and the new one
            landed = size + 1
            for target in targets:
                warehouse = warehouses[target]
                dbt = Dbt(warehouse, workdir / target / "target", PROJECT_ROOT)
                _hand_over(target, landed_source, warehouse, batches=size)
                pid = server_pid if target == "postgres" else None
                log(f"{target}: full rebuild over {size} batches")
                full = timed_run(
                    dbt, f"{target}-{size}-full", "build", "--full-refresh", "--select", *SCORE_MODELS, server_pid=pid
                )
                log(
                    f"{target}: {size} batches in {full['wall']:.1f} s wall "
                    f"({size * rows / full['wall']:,.0f} rows/s), "
                    f"peak {full['peak_gib']:.2f} GiB, other processes {share(full['foreign'])} of the machine"
                )
                result = {"target": target, "batches": size, "rows": size * rows, "full": full}
                if target == "duckdb" and pandas:
                    result["pandas"] = loop = pandas_rebuild(landed_source.path, workdir)
                    log(
                        f"pandas loop and its write: {loop['wall']:.1f} s ({loop['write']:.1f} s writing "
                        f"{loop['rows']:,} rows), peak {loop['peak_gib']:.2f} GiB"
                    )
                _hand_over(target, landed_source, warehouse, batches=size + 1)
                result["new"] = new = timed_run(
                    dbt, f"{target}-{size}-new", "build", "--select", *SCORE_MODELS, server_pid=pid
                )
                log(
                    f"{target}: one new batch after {size}: {new['wall']:.1f} s wall, peak {new['peak_gib']:.2f} "
                    f"GiB, other processes {share(new['foreign'])} of the machine"
                )
                results.append(result)
    return results


def _batch_files(folder: Path, batches: int, rows: int) -> list[Path]:
    """The files of batches 0..batches-1: those a kept workdir has already (same generator, same seed: same bytes,
    if written with the same `rows`), then the missing ones generated."""
    have = len(list(folder.glob("batch_*.json"))) if folder.is_dir() else 0
    if have and len(json.loads((folder / "batch_0.json").read_text())) != rows:
        raise SystemExit(f"{folder} holds batches of another --rows: use another --workdir")
    if have < batches:
        generate(folder, batches - have, rows, seed=0, first=have)
    return [folder / f"batch_{batch}.json" for batch in range(batches)]


def _server_pid(server) -> int | None:
    with contextlib.suppress(psutil.Error, StopIteration):
        return next(
            c.pid
            for c in psutil.net_connections("tcp")
            if c.laddr and c.laddr.port == server.port and c.status == psutil.CONN_LISTEN
        )
    return None


def _hand_over(target: str, landed_source: DuckDBWarehouse, warehouse, batches: int) -> None:
    """Give `target` the first `batches` landed score batches (and only those)."""
    if target == "duckdb":
        _set_aside_newest(landed_source.path, hide=batches < _landed_batches(landed_source.path))
    elif target == "postgres":
        _copy_to_postgres(landed_source.path, warehouse, batches)
    else:
        _ledger_from(landed_source.path, warehouse, batches)


def _landed_batches(duckdb_path: Path) -> int:
    with connect(duckdb_path, read_only=True) as con:
        visible = con.execute("select count(distinct batch) from raw.score_batches").fetchone()[0]
        return visible + _holds_one_back(con)


def _holds_one_back(con) -> int:
    """1 while the newest landed batch waits in the side table (_set_aside_newest), else 0."""
    return con.execute("select count(*) from information_schema.tables where table_name = 'bench_newest'").fetchone()[0]


def _set_aside_newest(duckdb_path: Path, hide: bool) -> None:
    """Move the newest landed batch out of raw.score_batches (and its landing record) into a side table, or back:
    DuckDB rebuilds over N batches, then sees batch N arrive, as the other engines do from their copies."""
    with connect(duckdb_path) as con:
        if bool(_holds_one_back(con)) == hide:
            return
        con.execute("begin")
        if hide:
            con.execute(
                "create or replace table main.bench_newest as select * from raw.score_batches "
                "where batch = (select max(batch) from raw.score_batches)"
            )
            con.execute(
                "create or replace table main.bench_newest_landing as select * from raw.landed_files "
                "where source = 'score_batches' and landing_key in (select distinct batch::varchar "
                "from main.bench_newest)"
            )
            con.execute("delete from raw.score_batches where batch in (select batch from main.bench_newest)")
            con.execute(
                "delete from raw.landed_files where source = 'score_batches' and landing_key in "
                "(select landing_key from main.bench_newest_landing)"
            )
        else:
            con.execute("insert into raw.score_batches select * from main.bench_newest")
            con.execute("insert into raw.landed_files select * from main.bench_newest_landing")
            con.execute("drop table main.bench_newest")
            con.execute("drop table main.bench_newest_landing")
        con.execute("commit")


def _copy_to_postgres(duckdb_path: Path, warehouse: PostgresWarehouse, batches: int) -> None:
    """Copy the score batches 0..batches-1 the Postgres database lacks (rows and ledger rows) from the DuckDB file."""
    with warehouse.open() as con:
        ensure_raw_tables(con)
        con.execute(f"attach '{duckdb_path}' as landed (read_only)")
        have = con.execute("select coalesce(max(batch), -1) from raw.score_batches").fetchone()[0]
        wanted = f"batch > {have} and batch < {batches}"
        con.execute("begin")
        con.execute(f"insert into raw.score_batches select * from landed.raw.score_batches where {wanted}")
        con.execute(
            "insert into raw.landed_files select * from landed.raw.landed_files where source = 'score_batches' "
            f"and landing_key in (select distinct batch::varchar from landed.raw.score_batches where {wanted})"
        )
        con.execute("commit")
        con.execute("detach landed")


def _ledger_from(duckdb_path: Path, spark: SparkWarehouse, batches: int) -> None:
    """Spark's landing ledger as a copy of the DuckDB file's raw tables holding the first `batches` score batches,
    mirrored to Parquet (a batch mirrored before and absent now is removed: the ledger is this copy, nothing more)."""
    spark.directory.mkdir(parents=True, exist_ok=True)
    with connect(spark.ledger) as con:
        con.execute(f"attach '{duckdb_path}' as landed (read_only)")
        con.execute("create schema if not exists raw")
        kept = f"(select distinct batch from landed.raw.score_batches order by batch limit {batches})"
        for (table,) in con.execute(
            "select table_name from information_schema.tables where table_catalog = 'landed' and table_schema = 'raw'"
        ).fetchall():
            where = {
                "score_batches": f"where batch in {kept}",
                "landed_files": f"where source != 'score_batches' or landing_key in "
                f"(select batch::varchar from {kept})",
            }.get(table, "")
            con.execute(f"create or replace table raw.{table} as select * from landed.raw.{table} {where}")
        con.execute("detach landed")
        mirror_raw(con, spark.raw_dir)
