"""The HTTP service's parts that need no warehouse: the app factory (settings read once; nothing loaded until
the lifespan starts) and the body limit refused before the app parses anything. tests/serving/test_api.py covers the
endpoints over a real published index."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.settings import PROJECT_ROOT
from embeddings.model_source import ModelSourceError
from serving.api import create_app
from serving.api.errors import MAX_BODY_BYTES, BodyLimitMiddleware

# ---------------------------------------------------------------- settings, read once by the app factory


def test_serve_workers_is_a_whole_number_of_at_least_one(monkeypatch):
    from core.settings import Settings

    monkeypatch.delenv("SERVE_WORKERS", raising=False)
    assert Settings.from_env().serve_workers == 2
    monkeypatch.setenv("SERVE_WORKERS", "1")
    assert Settings.from_env().serve_workers == 1
    for bad in ("0", "-1", "two", "1.5"):
        monkeypatch.setenv("SERVE_WORKERS", bad)
        with pytest.raises(ValueError, match=rf"SERVE_WORKERS='{bad}': expected a whole number of at least 1"):
            Settings.from_env()


def test_the_refresh_interval_comes_from_search_refresh_seconds(monkeypatch, tmp_path: Path):
    published = tmp_path / "nothing.published.duckdb"
    monkeypatch.delenv("SEARCH_REFRESH_SECONDS", raising=False)
    assert create_app(published_path=published).state.service.refresh_seconds == 2.0
    monkeypatch.setenv("SEARCH_REFRESH_SECONDS", "0.25")
    assert create_app(published_path=published).state.service.refresh_seconds == 0.25
    assert create_app(published_path=published, refresh_seconds=3).state.service.refresh_seconds == 3.0
    monkeypatch.setenv("SEARCH_REFRESH_SECONDS", "soon")
    with pytest.raises(ValueError, match=r"SEARCH_REFRESH_SECONDS='soon': expected a number of seconds"):
        create_app(published_path=published)
    monkeypatch.setenv("SEARCH_REFRESH_SECONDS", "0")
    with pytest.raises(ValueError, match="refresh interval must be positive, got 0.0"):
        create_app(published_path=published)


def test_a_bad_model_source_fails_the_start_not_the_app_factory(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("EMBEDDING_MODEL", str(tmp_path / "no-such-model"))
    app = create_app(published_path=tmp_path / "nothing.published.duckdb")  # resolved in the lifespan, not here
    with pytest.raises(ModelSourceError, match="no-such-model"):
        with TestClient(app):
            pass


def test_a_bad_setting_ends_the_service_command_with_one_line():
    """`python -m serving.api` (make serve) with API_TOKEN too short: one line naming it, exit 1, no traceback, the
    token not echoed; importing the package alone builds nothing, so it does not fail."""
    env = {**os.environ, "API_TOKEN": "short", "SERVE_WORKERS": "1"}
    served = subprocess.run(
        [sys.executable, "-m", "serving.api", "--port", "0"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert served.returncode == 1, served.stderr[-2000:]
    assert served.stderr.splitlines() == [
        "python -m serving.api: API_TOKEN must be at least 16 visible ASCII characters without spaces "
        "(it has 5 characters)"
    ], served.stderr[-2000:]
    imported = subprocess.run(
        [sys.executable, "-c", "import serving.api as api; print(hasattr(api, 'app'))"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (imported.returncode, imported.stdout) == (0, "False\n"), imported.stderr[-2000:]


# ---------------------------------------------------------------- the body limit


def test_the_body_limit_holds_when_content_length_lies():
    """A Content-Length under the limit followed by more bytes: refused once the bytes run over."""
    reached_app = []

    async def app(scope, receive, send):  # pragma: no cover - must not be reached
        reached_app.append(True)

    async def run() -> list[dict]:
        incoming = [{"type": "http.request", "body": b"x" * (1 << 20), "more_body": True} for _ in range(3)]
        sent: list[dict] = []

        async def receive():
            return incoming.pop(0) if incoming else {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/find_similar", "headers": [(b"content-length", b"10")]}
        await BodyLimitMiddleware(app, MAX_BODY_BYTES)(scope, receive, send)
        return sent

    sent = asyncio.run(run())
    assert not reached_app
    assert sent[0]["status"] == 413
    assert "too large" in json.loads(sent[1]["body"])["detail"]


def test_a_validation_error_of_the_service_itself_is_a_500_whose_log_holds_no_values(tmp_path: Path, caplog):
    """A pydantic error raised by the service's own code is a bug: 500 without details, and the log line says
    where and which field, never the values (they can be document text)."""
    import logging

    from serving.api.schemas import SearchHit

    app = create_app(published_path=tmp_path / "none.duckdb")

    @app.get("/broken")
    def broken():
        return SearchHit(
            id="a",
            text="the confidential memorandum text",
            score="not a number",
            source="corpus",
            doc_id="x",
            chunk_id="0-0",
            pages=None,
        )

    caplog.set_level(logging.ERROR)
    response = TestClient(app, raise_server_exceptions=False).get("/broken")
    assert response.status_code == 500 and response.json() == {"detail": "internal error"}
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "internal validation error on /broken" in logged and "score" in logged
    assert "confidential" not in logged and "not a number" not in logged
