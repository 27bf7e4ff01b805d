"""`python -m serving.api [--host H] [--port P]`: the service as `make serve` and the Dockerfile run it, with
SERVE_WORKERS uvicorn processes (each loads the model and its own copy of the published index, and listens on a
socket of its own: serving.api.workers). uvicorn picks up uvloop and httptools, both pinned: a C event loop and HTTP
parser."""

from __future__ import annotations

import argparse

from core.settings import Settings
from serving.api import create_app
from serving.api.workers import run_workers

APP_FACTORY = "serving.api:create_app"  # each worker builds its own app (uvicorn's factory=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m serving.api", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback by default: set API_TOKEN before exposing it")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--no-access-log", dest="access_log", action="store_false")
    args = parser.parse_args(argv)
    try:
        workers = Settings.from_env().serve_workers
        # every setting the workers' factory reads, checked once here (it loads nothing): a bad one ends the
        # command with one line, not a traceback from each worker
        create_app()
    except ValueError as exc:
        raise SystemExit(f"python -m serving.api: {exc}") from None
    run_workers(
        APP_FACTORY,
        host=args.host,
        port=args.port,
        workers=workers,
        factory=True,
        log_level=args.log_level,
        access_log=args.access_log,
    )


if __name__ == "__main__":
    main()
