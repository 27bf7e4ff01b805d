"""`python -m warehouse start|stop|status|reset`: the project's local engines (see warehouse/local_postgres.py).

`stop` (`make stop`) stops every server the project started under `.engines/`: the one `DBT_TARGET=postgres`
uses, and any a test module left running when it was interrupted (each under `.engines/<name>/`).
`reset` (`make clean`) empties the local warehouses of every engine, so the next `make run` starts from nothing:
the DuckDB file and its published copy, the local Postgres database, the Spark warehouse folder. A server named by
PGHOST is never touched."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.settings import Settings
from warehouse.duckdb_file import DuckDBWarehouse
from warehouse.local_postgres import STATE_DIR, EngineError, LocalPostgres, stop_all
from warehouse.postgres import PostgresWarehouse
from warehouse.spark import SparkWarehouse
from warehouse.spark_cluster import LocalSparkCluster


def reset_local_warehouses(settings: Settings, server: LocalPostgres) -> list[str]:
    """Empty every engine's local warehouse; what was reset, one line each."""
    done = []
    DuckDBWarehouse(settings.duckdb_path).reset()
    for path in (settings.published_path, Path(f"{settings.published_path}.wal")):
        path.unlink(missing_ok=True)
    done.append(f"duckdb: removed {settings.duckdb_path} and {settings.published_path}")
    if (server.data_dir / "PG_VERSION").exists():
        warehouse = PostgresWarehouse(server.start())
        warehouse.reset()
        done.append(f"postgres: emptied {warehouse} (the local server; `make stop` stops it)")
    if settings.postgres_server is not None:
        done.append(f"postgres: left {settings.postgres_server} alone (PGHOST names a server the project does not own)")
    SparkWarehouse(settings.spark_dir).reset()
    done.append(f"spark: removed {settings.spark_dir}")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "stop", "status", "reset"))
    args = parser.parse_args(argv)
    server = LocalPostgres()
    try:
        if args.action == "start":
            started = time.perf_counter()
            connection = server.start()
            print(f"[postgres] {connection.url()} ready in {time.perf_counter() - started:.2f} s")
        elif args.action == "stop":
            stopped = stop_all()
            print(f"[postgres] stopped: {', '.join(stopped)}" if stopped else "[postgres] not running")
            clusters = [
                state.parent.name
                for state in sorted(STATE_DIR.parent.glob("*/cluster.json"))
                if LocalSparkCluster(state.parent).stop()
            ]
            print(f"[spark-cluster] stopped: {', '.join(clusters)}" if clusters else "[spark-cluster] not running")
        elif args.action == "reset":
            for line in reset_local_warehouses(Settings.from_env(), server):
                print(f"[reset] {line}")
        else:
            print(f"[postgres] running: {server.connection().url()}" if server.running() else "[postgres] not running")
    except EngineError as exc:
        print(f"[postgres] error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
