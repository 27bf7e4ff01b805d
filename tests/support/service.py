"""The HTTP service as `make serve` runs it, in another process, and what its errors look like."""

from __future__ import annotations

import subprocess
from pathlib import Path

from core.settings import PROJECT_ROOT


def assert_error(response, status: int, *fragments: str) -> None:
    """An API error: the status, and a JSON `detail` message naming each fragment."""
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    for fragment in fragments:
        assert fragment in detail, (fragment, detail)


class LiveService:
    """`python -m serving.api` in another process over a published copy (the way `make serve` runs it), with
    `workers` uvicorn processes (`env`: more settings, e.g. API_TOKEN), and a thread that keeps requesting one
    endpoint meanwhile, recording every status (or the failure)."""

    def __init__(self, published: Path, log_path: Path, workers: int = 1, env: dict[str, str] | None = None):
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.published, self.log_path, self.workers, self.env = published, log_path, workers, env or {}
        self.statuses: list = []
        self._stop = None
        self._thread = None
        self._server = None

    def log_tail(self) -> str:
        return self.log_path.read_text()[-3000:]

    def __enter__(self) -> "LiveService":
        import os
        import sys

        env = {
            **os.environ,
            "PUBLISHED_PATH": str(self.published),
            "SEARCH_REFRESH_SECONDS": "0.5",
            "HF_HUB_OFFLINE": "1",
            "SERVE_WORKERS": str(self.workers),
            **self.env,
        }
        with open(self.log_path, "w") as log:
            self._server = subprocess.Popen(
                [sys.executable, "-m", "serving.api", "--port", str(self.port)],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def health_when(self, ready, seconds: float = 90) -> dict:
        """Poll /health until `ready(health)`; return the last health seen."""
        import time

        import httpx

        deadline, health = time.monotonic() + seconds, {}
        while time.monotonic() < deadline and self._server.poll() is None:
            try:
                health = httpx.get(f"{self.base}/health", timeout=5).json()
                if ready(health):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        return health

    def keep_requesting(self, request) -> None:
        """Call `request(http_client)` (returning a status, or a description of what was wrong) until exit."""
        import threading
        import time

        import httpx

        self._stop = threading.Event()

        def loop() -> None:
            with httpx.Client(base_url=self.base, timeout=30) as http:
                while not self._stop.is_set():
                    try:
                        self.statuses.append(request(http))
                    except httpx.HTTPError as exc:
                        self.statuses.append(repr(exc))
                    time.sleep(0.02)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def __exit__(self, *exc_info) -> None:
        if self._stop is not None:
            self._stop.set()
            self._thread.join(timeout=30)
        self._server.terminate()
        try:
            self._server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._server.kill()
            self._server.wait()
