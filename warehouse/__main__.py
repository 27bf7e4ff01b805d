"""`python -m warehouse start|stop|status`: the project's local Postgres (see warehouse/local_postgres.py).

`stop` (`make stop`) stops every server the project started under `.engines/`: the one `DBT_TARGET=postgres`
uses, and any a test module left running when it was interrupted (each under `.engines/<name>/`)."""

from __future__ import annotations

import argparse
import sys
import time

from warehouse.local_postgres import STATE_DIR, EngineError, LocalPostgres, stop_all
from warehouse.spark_cluster import LocalSparkCluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "stop", "status"))
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
            clusters = [state.parent.name for state in sorted(STATE_DIR.parent.glob("*/cluster.json"))
                        if LocalSparkCluster(state.parent).stop()]
            print(f"[spark-cluster] stopped: {', '.join(clusters)}" if clusters else "[spark-cluster] not running")
        else:
            print(f"[postgres] running: {server.connection().url()}" if server.running() else "[postgres] not running")
    except EngineError as exc:
        print(f"[postgres] error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
