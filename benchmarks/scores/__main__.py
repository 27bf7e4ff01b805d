"""The command line of the score benchmark (see the package docstring): `python -m benchmarks.scores --help`."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import benchmarks.scores
from benchmarks.scores import log
from benchmarks.scores.data import generate, postgres_server
from benchmarks.scores.dbt_timing import SCORE_PIPELINE, Dbt, short_name, slowest_nodes
from benchmarks.scores.incremental import build_history, run_scenario
from benchmarks.scores.pandas_baseline import window_batches
from benchmarks.scores.report import machine, ratio, summary
from benchmarks.scores.throughput import run_throughput
from core.settings import PROJECT_ROOT
from warehouse import DuckDBWarehouse, PostgresWarehouse
from warehouse.postgres import create_database

# what a previous run with the same --workdir left there (and nothing else of the folder's)
SCRATCH_FOLDERS = ("batches", "small", "large", "throughput", "postgres")
TARGETS = ("duckdb", "postgres")
RECOMPUTE_BATCHES = 150  # issue 15 sets the full recompute's bar at 150 batches


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, int]:
    """The options, checked against the project's percentile window (returned with them)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scores", description=benchmarks.scores.__doc__.split("\n\n")[0]
    )
    parser.add_argument("--small", type=int, default=10, help="batches of history in the small scenario")
    parser.add_argument("--large", type=int, default=500, help="batches of history in the large scenario")
    parser.add_argument(
        "--recompute",
        type=int,
        help=f"batches of history (b) recomputes in full (default {RECOMPUTE_BATCHES}, issue 15's bar, or --large "
        "if smaller)",
    )
    parser.add_argument("--rows", type=int, default=10_000, help="records per synthetic batch")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic batches")
    parser.add_argument("--workdir", type=Path, help="scratch folder, kept afterwards (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary scratch folder")
    parser.add_argument(
        "--project-dir", type=Path, default=PROJECT_ROOT, help="the dbt project to measure (default: this checkout)"
    )
    parser.add_argument(
        "--target",
        choices=TARGETS,
        default="duckdb",
        help="the engine of (a): duckdb (and (b) too), or postgres: a throwaway local server under the workdir, "
        "or the PG* server when PGHOST is set (a database per scenario, created: needs CREATEDB); (a) only",
    )
    args = parser.parse_args(argv)
    args.project_dir = args.project_dir.resolve()
    window = window_batches(args.project_dir)
    if not window <= args.small < args.large:
        parser.error(f"need {window} (the percentile window) <= --small < --large")
    if args.recompute is None:
        args.recompute = min(RECOMPUTE_BATCHES, args.large)
    if not window <= args.recompute <= args.large:
        parser.error(f"need {window} (the percentile window) <= --recompute <= --large")
    return args, window


def run_scenarios(args, batches: list[Path], workdir: Path, server):
    """(a)'s small and large scenarios, on DuckDB files (server None) or on databases of `server`; and, on DuckDB,
    the warehouse (b) recomputes: the large one's copy, or one of --recompute batches of its own (built untimed)."""
    snapshot = None
    if server is None:
        small = run_scenario("small", args.small, batches, workdir / "small", args.project_dir)
        snapshot = DuckDBWarehouse(workdir / "throughput" / "warehouse.duckdb")
        large = run_scenario(
            "large",
            args.large,
            batches,
            workdir / "large",
            args.project_dir,
            snapshot=snapshot if args.recompute == args.large else None,
        )
        if args.recompute != args.large:
            log(f"(b)'s warehouse: {args.recompute} batches of history")
            snapshot.path.parent.mkdir(parents=True)
            build_history(
                Dbt(snapshot, workdir / "throughput" / "build_target", args.project_dir),
                snapshot,
                batches[: args.recompute],
            )
    else:
        small = run_scenario(
            "small",
            args.small,
            batches,
            workdir / "small",
            args.project_dir,
            warehouse=scratch_database(server, "small"),
        )
        large = run_scenario(
            "large",
            args.large,
            batches,
            workdir / "large",
            args.project_dir,
            warehouse=scratch_database(server, "large"),
        )
    return small, large, snapshot


def main(argv: list[str] | None = None) -> int:
    args, window = parse_args(argv)
    if args.workdir:
        workdir, keep = args.workdir.resolve(), True
        workdir.mkdir(parents=True, exist_ok=True)
        for child in SCRATCH_FOLDERS:
            shutil.rmtree(workdir / child, ignore_errors=True)
    else:
        workdir, keep = Path(tempfile.mkdtemp(prefix="bench_scores_")), args.keep

    info = machine()
    server = None
    try:
        if args.target == "postgres":
            # as root the server runs as the user pgserver, whose initdb must read (not only cross) the folders
            # above its data: mkdtemp's folder is 0700
            workdir.chmod(workdir.stat().st_mode | 0o055)
            server, stop_server = postgres_server(workdir / "postgres")
            info.update(postgres_versions(server))
        log("machine: " + "; ".join(f"{key} {value}" for key, value in info.items()))
        log(
            f"workdir {workdir}; {args.rows:,} rows per batch; history {args.small} vs {args.large} batches; "
            f"dbt project {args.project_dir}, selection '{SCORE_PIPELINE}'; target {args.target}"
        )
        # history + the timed build's batch + the timed run's batch
        batches = generate(workdir / "batches", args.large + 2, args.rows, args.seed)
        small, large, snapshot = run_scenarios(args, batches, workdir, server)
        log(
            f"one new batch, dbt build: small {small.build.wall:.2f} s, large {large.build.wall:.2f} s, "
            f"ratio {ratio(large.build.wall, small.build.wall)}; dbt run: small {small.run.wall:.2f} s, "
            f"large {large.run.wall:.2f} s, ratio {ratio(large.run.wall, small.run.wall)}"
        )
        log("slowest nodes of the large one-batch build (small -> large):")
        for unique_id, small_seconds, large_seconds in slowest_nodes(small.build, large.build):
            log(f"  {short_name(unique_id)}: {small_seconds:.2f} s -> {large_seconds:.2f} s")

        # (b) compares DuckDB's SQL with pandas on a DuckDB file: the Postgres run measures (a) only
        tp = run_throughput(snapshot, workdir / "throughput", window, args.project_dir) if server is None else None
        print(summary(info, args, small, large, tp), flush=True)
        return 0 if tp is None or tp.agree else 1
    finally:
        if server is not None:
            stop_server()
        if keep:
            log(f"scratch files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def scratch_database(server, scenario: str) -> PostgresWarehouse:
    """An empty database of its own per scenario, on `server`, dropped first if a previous run left it."""
    return PostgresWarehouse(create_database(server, f"bench_scores_{scenario}", fresh=True))


def postgres_versions(server) -> dict[str, str]:
    from importlib import metadata

    import psycopg2

    con = psycopg2.connect(server.dsn())
    try:
        with con.cursor() as cursor:
            cursor.execute("show server_version")
            version = cursor.fetchone()[0]
            cursor.execute("select extversion from pg_extension where extname = 'vector'")
            vector = (cursor.fetchone() or ["none"])[0]
    finally:
        con.close()
    return {"postgres": version, "pgvector": vector, "dbt-postgres": metadata.version("dbt-postgres")}


if __name__ == "__main__":
    sys.exit(main())
