"""The OpenAPI document is the service's contract (issue 16): schemathesis runs every one of its checks against a
live service (`python -m serving.api`, as `make serve` runs it) over a published index built from real data (the
judged passages of 5 real TREC DL queries, the sample document, the sample interests with their trained model),
without and with API_TOKEN; 0 failures. Beside it, what the document states by hand: texts blank after
normalisation are a 422 on every endpoint taking text, and a request's work is bounded (413 beyond the token
budget, decided before encoding; 503 when the deadline passes; the work stops when the client goes away)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from core.text import VISIBLE_CHARACTER, is_blank
from serving.api import create_app
from serving.api.budget import MAX_TOKENS, Budget
from tests.support.interests_warehouse import InterestsWarehouse
from tests.support.service import LiveService, assert_error
from tests.support.warehouses import query

TOKEN = "contract-token-0123456789"
# blank after normalisation: zero-width and other default-ignorable characters, NUL and other controls, and
# whitespace of every Unicode class (core.text.is_blank)
BLANK_TEXTS = [
    "",
    "\u200b",
    "\u200c\u200d",
    "\u2060",
    "\ufeff",
    "\x00",
    "\x01\x1f\x7f\x9f",
    "\u00a0",
    "\u3000",
    "\u2028",
    "\u2029",
    " \t\n\x0b\x0c\r",
    "\u200b \u00a0\ufeff\u3000\x00",
]
# a few windows of the model per text, so encoding them takes seconds: one comma is one token
HEAVY_DOCUMENTS = ["," * 4_000] * 3  # 54 windows, 13,632 tokens: within the budget


@pytest.fixture(scope="module")
def built(interests_and_search_warehouse) -> InterestsWarehouse:
    return interests_and_search_warehouse


@pytest.fixture(scope="module")
def live(built, tmp_path_factory):
    with LiveService(built.published_path, tmp_path_factory.mktemp("live") / "server.log") as service:
        assert (
            service.health_when(lambda h: h.get("status") == "ok" and h.get("interest_users")).get("status") == "ok"
        ), service.log_tail()
        yield service


@pytest.fixture(scope="module")
def client(built):
    with TestClient(create_app(published_path=built.published_path)) as test_client:
        yield test_client


def schemathesis_config(built: InterestsWarehouse, folder: Path) -> Path:
    """Real ids beside the generated ones (half the time), so the fuzzing reaches the 200s, not only the 404s; and
    413 among the answers a schema-valid request may get: the 2 MB body and the token budget sum over the whole
    body, which JSON Schema cannot state (the document lists the 413 and says both limits in words)."""
    handles = [
        row[0]
        for row in query(
            built.published_path, "select distinct user_handle from user_interest_scores order by user_handle limit 5"
        )
    ]
    documents = [
        row[0]
        for row in query(built.published_path, "select distinct doc_id from search_chunks where source = 'document'")
    ]
    assert handles and documents
    listed = lambda values: ", ".join(f'"{value}"' for value in values)  # noqa: E731
    config = folder / "schemathesis.toml"
    config.write_text(f"""
[dictionaries.users]
values = [{listed(handles)}]
[dictionaries.documents]
values = [{listed(documents)}]
[parameters]
"path.user_handle" = {{ dictionary = "users", probability = 0.5 }}
"path.doc_id" = {{ dictionary = "documents", probability = 0.5 }}
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "413", "429", "5xx"]
""")
    return config


def run_schemathesis(base: str, config: Path, folder: Path, *headers: str) -> subprocess.CompletedProcess:
    """Every check, every phase, a fixed seed, 100 examples per operation, each response within 30 s (the
    find_similar deadline is 20 s); the whole run ends within 240 s or fails."""
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{base}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        "100",
        "--seed",
        "16",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--max-response-time",
        "30",
        "--request-timeout",
        "60",
        "--continue-on-failure",
        "--no-color",
    ]
    for header in headers:
        command += ["--header", header]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=240)


# ---------------------------------------------------------------- the contract, checked by schemathesis


def test_schemathesis_finds_nothing_against_the_live_service(built, live, tmp_path):
    result = run_schemathesis(live.base, schemathesis_config(built, tmp_path), tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout and "5 selected / 5 total" in result.stdout, result.stdout[-3000:]


def test_schemathesis_finds_nothing_with_api_token_set(built, tmp_path):
    """With API_TOKEN the document declares the bearer scheme and the 401s: schemathesis sends the token, and its
    ignored_auth check sends requests without it and with a wrong one, which must be refused."""
    with LiveService(built.published_path, tmp_path / "server.log", env={"API_TOKEN": TOKEN}) as service:
        assert service.health_when(lambda h: h.get("status") == "ok").get("status") == "ok", service.log_tail()
        result = run_schemathesis(
            service.base, schemathesis_config(built, tmp_path), tmp_path, f"Authorization: Bearer {TOKEN}"
        )
        log = (tmp_path / "server.log").read_text()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout, result.stdout[-3000:]
    assert TOKEN not in log and '" 401' in log  # refused without it, and never logged


# ---------------------------------------------------------------- what the document states


def test_the_document_states_every_status_and_constraint(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    statuses = {
        (path, method): set(operation["responses"])
        for path, operations in paths.items()
        for method, operation in operations.items()
    }
    assert statuses == {
        ("/search", "get"): {"200", "422", "503"},
        ("/find_similar", "post"): {"200", "413", "422", "503"},
        ("/documents/{doc_id}/chunks", "get"): {"200", "404", "422", "503"},
        ("/interests/{user_handle}", "get"): {"200", "404", "422", "503"},
        ("/health", "get"): {"200"},
    }
    search = {p["name"]: p["schema"] for p in paths["/search"]["get"]["parameters"]}
    assert search["q"] == {
        **search["q"],
        "type": "string",
        "minLength": 1,
        "maxLength": 2000,
        "pattern": VISIBLE_CHARACTER,
    }
    assert (search["k"]["minimum"], search["k"]["maximum"]) == (1, 100)
    assert search["mode"]["enum"] == ["dense", "bm25", "hybrid"]
    assert search["source"]["enum"] == ["document", "corpus", ""] and search["source"]["default"] == ""
    assert search["doc_id"]["type"] == "string" and search["doc_id"]["maxLength"] == 200
    body = schema["components"]["schemas"]["FindSimilarRequest"]
    assert body["additionalProperties"] is False and set(body["required"]) == {"query", "documents"}
    text = {"type": "string", "minLength": 1, "maxLength": 20_000, "pattern": VISIBLE_CHARACTER}
    assert body["properties"]["query"] == {**body["properties"]["query"], **text}
    documents = body["properties"]["documents"]
    assert (documents["minItems"], documents["maxItems"], documents["items"]) == (1, 1_000, text)
    assert f"{MAX_TOKENS:,} tokens" in paths["/find_similar"]["post"]["description"]
    doc_id = paths["/documents/{doc_id}/chunks"]["get"]["parameters"][0]["schema"]
    assert doc_id["pattern"] == "^[A-Za-z0-9_-]+$"
    interests = {p["name"]: p["schema"] for p in paths["/interests/{user_handle}"]["get"]["parameters"]}
    assert interests["user_handle"]["pattern"] == "^[0-9A-Za-z_-]{1,64}$"
    assert (interests["limit"]["minimum"], interests["limit"]["maximum"]) == (1, 100)
    assert (interests["min_probability"]["minimum"], interests["min_probability"]["maximum"]) == (0, 1)


def test_the_non_blank_pattern_is_is_blank_on_every_code_point():
    """The document's `pattern` (unanchored: a text must hold one such character) and the service's check are one
    definition: they agree on each of the 1,112,064 Unicode scalar values."""
    visible = re.compile(VISIBLE_CHARACTER)
    disagree = [
        hex(code)
        for code in range(0x110000)
        if not 0xD800 <= code <= 0xDFFF and (visible.search(chr(code)) is None) != is_blank(chr(code))
    ]
    assert disagree == []
    assert visible.search("\u200b\u00a0x") and not visible.search("".join(BLANK_TEXTS))


def test_a_body_that_is_not_utf8_json_is_a_422(client):
    for raw in (b"{not json", b'{"query": "\xff", "documents": ["a"]}', b"\xff\xfe{", b""):
        response = client.post("/find_similar", content=raw, headers={"content-type": "application/json"})
        assert response.status_code == 422, (raw, response.status_code, response.text)
        assert isinstance(response.json()["detail"], str)
    assert_error(
        client.post(
            "/find_similar",
            content=b'{"query": "x", "documents": ["\xc3"]}',
            headers={"content-type": "application/json"},
        ),
        422,
        "not JSON in UTF-8",
    )


@pytest.mark.parametrize(
    ("payload", "fragments"),
    [
        ({"query": "x", "documents": ["a"], "document": ["b"]}, ("document", "not permitted")),  # misspelt field
        ({"query": "\ud800 x", "documents": ["a"]}, ("query", "lone surrogate (U+D800)")),  # JSON escapes: no Unicode
        ({"query": "x", "documents": ["a", "b\udfff"]}, ("documents[1]", "lone surrogate (U+DFFF)")),
    ],
)
def test_find_similar_refuses_what_is_not_its_json(client, payload, fragments):
    import json

    raw = json.dumps(payload).encode()  # ensure_ascii: the surrogates travel as \ud800 escapes, as a client sends
    assert_error(
        client.post("/find_similar", content=raw, headers={"content-type": "application/json"}), 422, *fragments
    )


# ---------------------------------------------------------------- blank text, on every endpoint taking text


@pytest.mark.parametrize("blank", BLANK_TEXTS, ids=lambda text: text.encode("unicode_escape").decode() or "empty")
def test_a_text_blank_after_normalisation_is_a_422_everywhere(client, blank):
    assert_error(client.get("/search", params={"q": blank}), 422, "q", "blank")
    assert_error(client.post("/find_similar", json={"query": blank, "documents": ["a"]}), 422, "query", "blank")
    assert_error(
        client.post("/find_similar", json={"query": "a", "documents": ["b", blank]}), 422, "documents[1]", "blank"
    )


def test_visible_text_among_invisible_characters_is_served(client):
    assert client.get("/search", params={"q": "\u200bwifi\u00a0bluetooth\u3000", "k": 3}).status_code == 200
    response = client.post("/find_similar", json={"query": "\ufeffpassword", "documents": ["a\u200b", "\x00b"]})
    assert response.status_code == 200, response.text


# ---------------------------------------------------------------- the work one request may cost


def test_over_the_token_budget_is_a_413_before_anything_is_encoded(client, caplog):
    """100 texts of 20,000 one-token characters (2 MB, just under the body limit): 2 million tokens. Refused once
    the count passes the budget, in the first text: no encoding at all."""
    body = {"query": "x", "documents": ["," * 20_000] * 100}
    started = time.perf_counter()
    response = client.post("/find_similar", json=body)
    seconds = time.perf_counter() - started
    assert_error(response, 413, f"more than {MAX_TOKENS:,} tokens", "by text 2 of 101")
    assert seconds < 2, seconds
    # the budget is a sum over the texts: 1 + 64 x 254 + 127 tokens is exactly it, one token more is over
    exactly = {"query": "x", "documents": ["," * 254] * 64 + ["," * 127]}
    assert client.post("/find_similar", json=exactly).status_code == 200
    exactly["documents"][-1] += ","
    assert_error(client.post("/find_similar", json=exactly), 413, f"reached {MAX_TOKENS + 1:,} by text 66 of 66")


def test_a_request_past_its_deadline_stops_with_a_503(built, caplog):
    import logging

    caplog.set_level(logging.WARNING, logger="serving.api.budget")
    with TestClient(create_app(published_path=built.published_path, budget=Budget(deadline_seconds=0.5))) as short:
        started = time.perf_counter()
        response = short.post("/find_similar", json={"query": "x", "documents": HEAVY_DOCUMENTS})
        seconds = time.perf_counter() - started
    assert_error(response, 503, "deadline passed", "of 55 windows")
    stopped = [record.getMessage() for record in caplog.records if "find_similar stopped" in record.getMessage()]
    assert len(stopped) == 1 and "deadline passed" in stopped[0]
    done = int(re.search(r"after encoding (\d+) of 55", stopped[0]).group(1))
    assert 0 < done < 55 and seconds < 5, (stopped, seconds)


def test_a_client_that_goes_away_stops_the_work(live):
    """A live server (uvicorn): the client gives up after 0.5 s; the server stops between two batches, says how
    far it got, and has not encoded the rest (its log line; the next request is served at once)."""
    before = live.log_path.read_text().count("find_similar stopped")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{live.base}/find_similar", json={"query": "x", "documents": HEAVY_DOCUMENTS}, timeout=0.5)
    deadline, stopped = time.monotonic() + 15, []
    while time.monotonic() < deadline and len(stopped) <= before:
        stopped = re.findall(
            r"find_similar stopped after encoding (\d+) of (\d+) windows: (.*)", live.log_path.read_text()
        )
        time.sleep(0.1)
    assert len(stopped) == before + 1, live.log_tail()
    done, total, reason = stopped[-1]
    assert reason == "the client went away" and total == "55" and int(done) < 55, stopped
    similar = httpx.post(f"{live.base}/find_similar", json={"query": "x", "documents": ["x"]}, timeout=30)
    assert similar.status_code == 200
