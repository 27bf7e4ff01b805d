"""`python -m orchestration start|stop|status` (orchestration/server.py): `make orchestrate`, `make stop`."""

from __future__ import annotations

import argparse
import sys

from core.settings import Settings
from orchestration import server
from pipeline.dbt_runner import DbtError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "stop", "status"))
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.action == "start":
            print(f"[orchestrator] DBT_TARGET={settings.dbt_target} DATA_DIR={settings.data_dir}: starting", flush=True)
            address = server.start(settings)
            print(f"[orchestrator] UI: {address} (state in {settings.orchestrator_home}; `make stop` stops it)")
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
