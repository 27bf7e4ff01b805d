"""`python -m orchestration start|stop|status|backfill FIRST LAST` (orchestration/server.py): `make orchestrate`,
`make stop`, `make backfill FROM=.. TO=..`."""

from __future__ import annotations

import argparse
import sys

from core.settings import Settings
from orchestration import server
from pipeline.dbt_runner import DbtError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "stop", "status", "backfill"))
    parser.add_argument("batches", nargs="*", type=int, help="backfill: the first and the last batch to re-run")
    args = parser.parse_args(argv)
    if (args.action == "backfill") != bool(args.batches) or (args.batches and len(args.batches) != 2):
        parser.error("backfill takes the first and the last batch to re-run (and only backfill takes batches)")
    try:
        settings = Settings.from_env()
        if args.action == "start":
            print(f"[orchestrator] DBT_TARGET={settings.dbt_target} DATA_DIR={settings.data_dir}: starting", flush=True)
            address = server.start(settings)
            print(f"[orchestrator] UI: {address} (state in {settings.orchestrator_home}; `make stop` stops it)")
        elif args.action == "backfill":
            first, last = args.batches
            run_id = server.launch_backfill(settings, first, last)
            print(f"[orchestrator] batches {first}..{last}: run {run_id} queued ({server.url(settings)}/runs/{run_id})")
        elif args.action == "stop":
            print("[orchestrator] stopped" if server.stop(settings) else "[orchestrator] not running")
        else:
            running = server.running_pid(settings) is not None and server.answering(settings)
            print(f"[orchestrator] running: {server.url(settings)}" if running else "[orchestrator] not running")
    except (ValueError, server.OrchestratorError, DbtError) as exc:
        print(f"[orchestrator] error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
