"""API_TOKEN: every endpoint but /health wants the bearer token (401 otherwise, before any work), the OpenAPI
document says so, and the token shows up in no log line and no settings repr. The app is not started (no
lifespan): authentication is decided before the service is touched, so no model or index is needed."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from core.settings import Settings
from serving.api import create_app

TOKEN = "s3cret-token-0123456789"
PROTECTED = [
    ("get", "/search", {"params": {"q": "wifi"}}),
    ("post", "/find_similar", {"json": {"query": "wifi", "documents": [{"id": "a", "text": "b"}]}}),
    ("get", "/documents/123/chunks", {}),
    ("get", "/interests/some-user", {}),
    ("get", "/openapi.json", {}),
    ("get", "/docs", {}),
    ("get", "/no-such-path", {}),
]


@pytest.fixture()
def client(tmp_path):
    return TestClient(create_app(published_path=tmp_path / "none.duckdb", api_token=TOKEN))


@pytest.mark.parametrize("method, path, options", PROTECTED)
def test_every_endpoint_but_health_wants_the_token(client, method, path, options, caplog):
    caplog.set_level(logging.DEBUG)
    missing = getattr(client, method)(path, **options)
    wrong = getattr(client, method)(path, headers={"Authorization": f"Bearer {TOKEN}x"}, **options)
    basic = getattr(client, method)(path, headers={"Authorization": f"Basic {TOKEN}"}, **options)
    for response in (missing, wrong, basic):
        assert response.status_code == 401, (path, response.status_code)
        assert response.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in response.text
    assert "missing bearer token" in missing.json()["detail"] and wrong.json()["detail"] == "invalid bearer token"
    right = getattr(client, method)(path, headers={"Authorization": f"Bearer {TOKEN}"}, **options)
    assert right.status_code != 401  # past authentication (the unstarted service may still answer 5xx/404)
    assert not any(TOKEN in record.getMessage() for record in caplog.records)


def test_health_needs_no_token(client):
    assert client.get("/health").status_code == 200


def test_without_api_token_nothing_is_required(tmp_path, monkeypatch):
    monkeypatch.delenv("API_TOKEN", raising=False)
    open_client = TestClient(create_app(published_path=tmp_path / "none.duckdb"))
    assert open_client.get("/openapi.json").status_code == 200
    assert "securitySchemes" not in open_client.get("/openapi.json").json().get("components", {})


def test_the_openapi_document_declares_the_scheme_and_the_401(client):
    schema = client.get("/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert schema["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            if path == "/health":
                assert "security" not in operation and "401" not in operation["responses"]
            else:
                assert operation["security"] == [{"bearerToken": []}] and "401" in operation["responses"], path


def test_api_token_from_the_environment_is_checked_and_kept_out_of_reprs(monkeypatch):
    monkeypatch.setenv("API_TOKEN", TOKEN)
    settings = Settings.from_env()
    assert settings.api_token == TOKEN and TOKEN not in repr(settings)
    for bad in ("short", "has a space in it 0123", "tab\there-0123456789"):
        monkeypatch.setenv("API_TOKEN", bad)
        with pytest.raises(ValueError, match="API_TOKEN must be") as refused:
            Settings.from_env()
        assert bad not in str(refused.value)
    monkeypatch.setenv("API_TOKEN", "")
    assert Settings.from_env().api_token is None
