"""The HTTP service under a benchmark, and the latency line every benchmark prints.

The service runs as `make serve` runs it (`python -m serving.api`), in a subprocess on a free loopback port
over the published copy the benchmark names, and is stopped (killed if it will not stop) afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.settings import PROJECT_ROOT

START_TIMEOUT_SECONDS = 120
_POLL_SECONDS = 0.5


def percentiles(milliseconds: list[float]) -> str:
    p50, p95, p99 = np.percentile(milliseconds, [50, 95, 99])
    return f"p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  p99 {p99:7.1f} ms  (n={len(milliseconds)})"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_service(
    published_path: Path,
    ready: Callable[[dict], bool],
    waiting_for: str,
    workers: int = 1,
) -> tuple[subprocess.Popen, str]:
    """Start the service (`workers` uvicorn processes) and wait until its /health answer satisfies `ready`; return
    it and its base URL. With several workers, /health answers from whichever worker takes the connection; each
    loads the same published copy before it accepts any.

    `waiting_for` completes the error message "the service did not <waiting_for> within 120 s".
    """
    import httpx

    port = free_port()
    env = {**os.environ, "PUBLISHED_PATH": str(published_path), "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "serving.api", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=PROJECT_ROOT,
        env={**env, "SERVE_WORKERS": str(workers)},
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(int(START_TIMEOUT_SECONDS / _POLL_SECONDS)):
        if server.poll() is not None:
            raise RuntimeError(f"the service exited with {server.returncode}")
        try:
            if ready(httpx.get(f"{base}/health", timeout=2).json()):
                return server, base
        except httpx.HTTPError:
            pass
        time.sleep(_POLL_SECONDS)
    stop_service(server)
    raise RuntimeError(f"the service did not {waiting_for} within {START_TIMEOUT_SECONDS} s")


def stop_service(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
