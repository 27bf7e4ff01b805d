"""GET /interests/{user_handle} over the published copy of a warehouse built from the sample interests only
(2,000 users, 300 interests, activity for 1,898): the interest model trained with its CLI into a scratch
artifacts folder, a full `dbt build`, publish. Shape, order, limit, threshold, cold start, every 404/422/503,
/health, and a dbt build + publish while a live server keeps answering /interests."""

from __future__ import annotations

import asyncio
import json
import math
import random
import shutil
import time
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from pipeline.dbt_runner import run_dbt
from pipeline.publish import publish
from serving.api import create_app
from serving.api.fast_path import InterestsFastPath
from serving.api.schemas import UserInterestsResponse
from serving.interests import MAX_LIMIT, InterestStore, InterestStoreError
from tests.support.interests_warehouse import InterestsWarehouse, publish_without_the_mart, read_csv
from tests.support.service import LiveService, assert_error
from tests.support.warehouses import query
from warehouse import DuckDBWarehouse


@pytest.fixture(scope="module")
def built(interests_and_search_warehouse) -> InterestsWarehouse:
    return interests_and_search_warehouse


@pytest.fixture(scope="module")
def client(built):
    with TestClient(create_app(published_path=built.published_path)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def users() -> dict[str, dict[str, str]]:
    return {row["id"]: row for row in read_csv("users.csv")}


@pytest.fixture(scope="module")
def cold_handles(users) -> list[str]:
    active = {row["USER_HANDLE"] for row in read_csv("user_activity.csv")}
    return sorted(handle for handle in users if handle not in active)


@pytest.fixture(scope="module")
def active_handle(users, cold_handles) -> str:
    return sorted(set(users) - set(cold_handles))[0]


# ---------------------------------------------------------------- the published mart


def test_the_published_mart_scores_every_user_on_every_interest(built, users):
    (n_users, n_rows, n_interests, low, high, versions, cold) = query(
        built.published_path,
        "select count(distinct user_handle), count(*), count(distinct interest_id), min(probability), "
        "max(probability), count(distinct model_version), count(distinct user_handle) filter (is_cold_start) "
        "from user_interest_scores",
    )[0]
    assert n_users == len(users) == 2000
    assert n_interests == len(read_csv("interests.csv")) == 300
    assert n_rows == n_users * n_interests
    assert 0 <= low <= high <= 1 and versions == 1
    assert cold > 0


# ---------------------------------------------------------------- GET /interests/{user_handle}


def test_shape_default_length_and_order(client, built, users, active_handle):
    response = client.get(f"/interests/{active_handle}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"user_handle", "name", "type", "model_version", "cold_start", "interests"}
    user = users[active_handle]
    (version,) = query(built.published_path, "select any_value(model_version) from user_interest_scores")[0]
    assert (body["user_handle"], body["name"], body["type"]) == (active_handle, user["name"], user["type"])
    assert body["model_version"] == version and body["cold_start"] is False
    interests = body["interests"]
    assert len(interests) == 10
    assert all(set(item) == {"id", "label", "probability"} for item in interests)
    probabilities = [item["probability"] for item in interests]
    assert probabilities == sorted(probabilities, reverse=True)
    # exactly the user's ten most likely interests of the mart, with its probabilities and labels
    expected = built.published_rows(active_handle)[:10]
    assert [(i["id"], i["label"], i["probability"]) for i in interests] == [(r[0], r[1], r[2]) for r in expected]
    assert [r[3] for r in expected] == list(range(1, 11))  # the mart's rank agrees with the probability order


def test_probabilities_are_in_0_1_for_a_sample_of_users(client, users):
    for handle in random.Random(0).sample(sorted(users), 40):
        body = client.get(f"/interests/{handle}", params={"limit": MAX_LIMIT}).json()
        probabilities = [item["probability"] for item in body["interests"]]
        assert len(probabilities) == MAX_LIMIT
        assert all(0 <= p <= 1 and math.isfinite(p) for p in probabilities)
        assert probabilities == sorted(probabilities, reverse=True)


def test_every_body_is_exactly_the_documented_schema(client, users, cold_handles):
    """The route serialises its body itself (not through response_model): the documented model must read every
    body back unchanged, no field missing, extra or of another type."""
    for handle in random.Random(1).sample(sorted(users), 30) + cold_handles[:5]:
        response = client.get(f"/interests/{handle}", params={"limit": 25})
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert UserInterestsResponse.model_validate(body).model_dump(mode="json") == body


@pytest.mark.parametrize("limit", [1, 3, 25, 100])
def test_limit(client, active_handle, limit):
    body = client.get(f"/interests/{active_handle}", params={"limit": limit}).json()
    assert len(body["interests"]) == limit
    assert (
        body["interests"]
        == client.get(f"/interests/{active_handle}", params={"limit": 100}).json()["interests"][:limit]
    )


@pytest.mark.parametrize("threshold", [0.0, 0.05, 0.2, 0.5, 0.9])
def test_min_probability_keeps_only_interests_at_or_above_it(client, built, active_handle, threshold):
    body = client.get(f"/interests/{active_handle}", params={"min_probability": threshold, "limit": 100}).json()
    probabilities = [item["probability"] for item in body["interests"]]
    assert all(p >= threshold for p in probabilities)
    expected = [row[2] for row in built.published_rows(active_handle) if row[2] >= threshold][:100]
    assert probabilities == expected  # none left out either
    short = client.get(f"/interests/{active_handle}", params={"min_probability": threshold}).json()
    assert [item["probability"] for item in short["interests"]] == expected[:10]


def test_a_threshold_of_1_returns_an_empty_list(client, built, users):
    """1.0 is a valid threshold, and no probability reaches it: the mart clips them to [1e-6, 1 - 1e-6]."""
    assert query(
        built.published_path, "select max(probability) < 1, min(probability) > 0 from user_interest_scores"
    ) == [(True, True)]
    for handle in sorted(users)[:5]:
        for threshold in (1.0, "1", "1.0"):
            response = client.get(f"/interests/{handle}", params={"min_probability": threshold})
            assert response.status_code == 200 and response.json()["interests"] == [], response.text


def test_a_cold_start_user_is_flagged_and_still_gets_ten_interests(client, built, users, cold_handles):
    assert len(cold_handles) == 2000 - 1898
    published_cold = {
        row[0]
        for row in query(
            built.published_path, "select distinct user_handle from user_interest_scores where is_cold_start"
        )
    }
    assert published_cold == set(cold_handles)
    by_type: dict[str, list] = {}
    for handle in cold_handles[:12]:
        body = client.get(f"/interests/{handle}").json()
        assert body["cold_start"] is True and body["type"] == users[handle]["type"]
        probabilities = [item["probability"] for item in body["interests"]]
        assert len(probabilities) == 10 and all(0 <= p <= 1 for p in probabilities)
        assert probabilities == sorted(probabilities, reverse=True) and probabilities[0] > 0
        by_type.setdefault(body["type"], []).append(body["interests"])
    for lists in by_type.values():  # the cold-start estimate is the type's prior: the same for every such user
        assert all(interests == lists[0] for interests in lists)


def test_handles_are_matched_case_insensitively(client, active_handle):
    upper = client.get(f"/interests/{active_handle.upper()}")
    assert upper.status_code == 200 and upper.json()["user_handle"] == active_handle


@pytest.mark.parametrize("handle", ["00000000-0000-0000-0000-000000000000", "nobody", "a" * 64])
def test_unknown_user_is_a_404(client, handle):
    assert_error(client.get(f"/interests/{handle}"), 404, "no user", handle)


@pytest.mark.parametrize(
    "params, fragments",
    [
        ({"min_probability": -0.1}, ["min_probability", "greater than or equal to 0"]),
        ({"min_probability": 1.5}, ["min_probability", "less than or equal to 1"]),
        ({"min_probability": "abc"}, ["min_probability", "number"]),
        ({"min_probability": "nan"}, ["min_probability", "finite"]),
        ({"min_probability": "inf"}, ["min_probability", "finite"]),
        ({"min_probability": "-inf"}, ["min_probability", "finite"]),
        ({"min_probability": ""}, ["min_probability"]),
        ({"limit": 0}, ["limit", "greater than or equal to 1"]),
        ({"limit": 101}, ["limit", "less than or equal to 100"]),
        ({"limit": "x"}, ["limit", "integer"]),
        ({"limit": 2.5}, ["limit", "integer"]),
    ],
)
def test_bad_parameters_are_a_422(client, active_handle, params, fragments):
    assert_error(client.get(f"/interests/{active_handle}", params=params), 422, *fragments)


@pytest.mark.parametrize(
    "path",
    [
        "/interests/a%20b",
        "/interests/a b",
        "/interests/a/b",
        "/interests/a%2Fb",
        "/interests/..%2F..%2Fetc",
        "/interests/" + "a" * 65,
        "/interests/%00",
        "/interests/%C3%A9",
        "/interests/x;drop",
        "/interests/",
        "/interests/e337a675-46f5-437e-aa72-5d43643b5461/extra",
    ],
)
def test_a_malformed_handle_is_a_422(client, path):
    assert_error(client.get(path), 422, "invalid user handle", "letters, digits")


def test_health_reports_the_interest_store(client, built):
    (version,) = query(built.published_path, "select any_value(model_version) from user_interest_scores")[0]
    body = client.get("/health").json()
    assert body["interest_users"] == 2000
    assert body["interest_model_version"] == version
    assert body["interest_detail"] is None


def test_openapi_documents_the_endpoint(client):
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/interests/{user_handle}"]["get"]
    assert operation["summary"] and operation["description"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert set(parameters) == {"user_handle", "limit", "min_probability"}
    assert all(p.get("description") for p in parameters.values())
    assert {"404", "422", "503"} <= set(operation["responses"])
    assert "UserInterestsResponse" in schema["components"]["schemas"]


def test_the_store_keeps_at_most_100_interests_per_user(built):
    store = InterestStore()
    snapshot = store.load(built.published_path)
    assert snapshot.size == 2000 and snapshot.rows == 2000 * MAX_LIMIT
    with pytest.raises(ValueError, match="limit"):
        store.lookup(snapshot.handles[0], limit=101)
    with pytest.raises(ValueError, match="min_probability"):
        store.lookup(snapshot.handles[0], min_probability=float("nan"))


# ---------------------------------------------------------------- the fast path (serving.api.fast_path)


def test_the_fast_path_answers_exactly_as_the_route_does(client, users):
    """No query string: the fast path; `?limit=10` (the same defaults spelled out): the route. Same bytes."""
    assert InterestsFastPath in [middleware.cls for middleware in client.app.user_middleware]
    for handle in random.Random(5).sample(sorted(users), 40) + [sorted(users)[0].upper()]:
        fast, routed = client.get(f"/interests/{handle}"), client.get(f"/interests/{handle}?limit=10")
        assert fast.status_code == routed.status_code == 200
        assert fast.content == routed.content
        assert {name: fast.headers[name] for name in ("content-type", "content-length")} == {
            name: routed.headers[name] for name in ("content-type", "content-length")
        }


def test_the_fast_path_takes_only_a_known_user_with_the_defaults(built, active_handle):
    store = InterestStore()
    handed_on = []

    async def app(scope, receive, send):  # stands for the FastAPI app behind the middleware
        handed_on.append((scope["method"], scope["path"], scope["query_string"], scope["root_path"]))

    def request(fast_path, path, query=b"", method="GET", root_path=""):
        sent = []

        async def send(message):
            sent.append(message)

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "query_string": query,
            "root_path": root_path,
            "headers": [],
        }
        asyncio.run(fast_path(scope, receive, send))
        return sent

    fast_path = InterestsFastPath(app, store)
    assert request(fast_path, f"/interests/{active_handle}") == [] and len(handed_on) == 1  # nothing loaded yet
    store.load(built.published_path)
    sent = request(fast_path, f"/interests/{active_handle}")
    assert sent[0]["status"] == 200 and json.loads(sent[1]["body"])["user_handle"] == active_handle
    assert len(handed_on) == 1  # answered, not handed on
    others = [
        (f"/interests/{active_handle}", b"limit=10", "GET", ""),
        (f"/interests/{active_handle}", b"", "HEAD", ""),
        (f"/interests/{active_handle}", b"", "GET", "/api"),
        ("/interests/nobody", b"", "GET", ""),
        ("/interests/a b", b"", "GET", ""),
        (f"/interests/{active_handle}/extra", b"", "GET", ""),
        ("/interests/", b"", "GET", ""),
        ("/health", b"", "GET", ""),
    ]
    for path, query_string, method, root_path in others:
        assert request(fast_path, path, query_string, method, root_path) == []
    assert handed_on[1:] == [
        (method, path, query_string, root_path) for path, query_string, method, root_path in others
    ]


def test_the_fast_path_never_skips_the_token(built, active_handle):
    with TestClient(create_app(published_path=built.published_path, api_token="a-long-s3cret-token")) as client:
        assert_error(client.get(f"/interests/{active_handle}"), 401, "missing bearer token")
        answered = client.get(f"/interests/{active_handle}", headers={"Authorization": "Bearer a-long-s3cret-token"})
        assert answered.status_code == 200 and answered.json()["user_handle"] == active_handle


# ---------------------------------------------------------------- nothing (or an old copy) published


def test_before_anything_is_published_it_answers_503_then_picks_the_copy_up(built, active_handle, tmp_path: Path):
    missing = tmp_path / "not-yet.published.duckdb"
    with TestClient(create_app(published_path=missing, refresh_seconds=0.2)) as client:
        health = client.get("/health").json()
        assert (health["interest_users"], health["interest_model_version"]) == (0, None)
        assert_error(client.get(f"/interests/{active_handle}"), 503, "no published interest scores", str(missing))
        assert_error(client.get("/interests/a b"), 422, "invalid user handle")  # input is still checked first
        assert_error(client.get(f"/interests/{active_handle}", params={"limit": 0}), 422, "limit")

        shutil.copy(built.published_path, missing)
        deadline = time.monotonic() + 20
        while client.get("/health").json()["interest_users"] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/health").json()["interest_users"] == 2000
        assert len(client.get(f"/interests/{active_handle}").json()["interests"]) == 10


def test_a_copy_published_without_the_mart_is_a_clear_503(built, active_handle, tmp_path: Path):
    old = tmp_path / "old.published.duckdb"
    shutil.copy(built.published_path, old)
    con = duckdb.connect(str(old))
    con.execute("drop table user_interest_scores")
    con.close()
    with TestClient(create_app(published_path=old)) as client:
        health = client.get("/health").json()
        assert health["interest_users"] == 0 and "no user_interest_scores table" in health["interest_detail"]
        assert_error(client.get(f"/interests/{active_handle}"), 503, "cannot be served", "user_interest_scores")
        assert client.get("/health").json()["detail"] is None  # search is unaffected


def test_a_store_given_a_copy_without_the_mart_has_nothing_to_serve_and_never_raises(tmp_path: Path):
    # no dbt needed: a published copy holding only search_chunks (what publish writes after a partial build)
    published = tmp_path / "search-only.published.duckdb"
    con = duckdb.connect(str(published))
    con.execute("create table search_chunks (chunk_id varchar)")
    con.close()
    store = InterestStore()
    assert store.refresh(published) is False  # never raises
    assert store.snapshot is None and store.size == 0 and store.model_version is None
    assert "no user_interest_scores table" in store.error
    with pytest.raises(InterestStoreError, match="no interest scores published"):
        store.lookup("e337a675-46f5-437e-aa72-5d43643b5461")
    assert store.refresh(published) is False  # the same file is not retried
    with pytest.raises(InterestStoreError, match="user_interest_scores"):
        store.load(published)


def test_a_copy_without_the_mart_published_while_serving_turns_interests_into_503(built, active_handle, tmp_path: Path):
    """A live service serving interests, then a copy with search_chunks only is published: the interests
    answer 503 (nothing published any more, not the stale scores), search keeps serving the new copy."""
    published = tmp_path / "live.published.duckdb"
    shutil.copy(built.published_path, published)
    with TestClient(create_app(published_path=published, refresh_seconds=0.2)) as client:
        health = client.get("/health").json()
        assert health["interest_users"] == 2000 and health["status"] == "ok"
        assert client.get(f"/interests/{active_handle}").status_code == 200
        before = health["published_at"]

        time.sleep(0.05)  # a distinct mtime for the new copy
        publish_without_the_mart(built.published_path, published)
        deadline = time.monotonic() + 20
        while client.get("/health").json()["interest_users"] and time.monotonic() < deadline:
            time.sleep(0.1)
        health = client.get("/health").json()
        assert health["interest_users"] == 0 and health["interest_model_version"] is None
        assert "no user_interest_scores table" in health["interest_detail"]
        assert_error(client.get(f"/interests/{active_handle}"), 503, "no interest scores published")
        deadline = time.monotonic() + 20
        while client.get("/health").json()["published_at"] == before and time.monotonic() < deadline:
            time.sleep(0.1)
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["detail"] is None and health["published_at"] != before

        shutil.copy(built.published_path, published)  # a full publish brings the interests back
        deadline = time.monotonic() + 20
        while client.get("/health").json()["interest_users"] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/health").json()["interest_users"] == 2000
        assert client.get(f"/interests/{active_handle}").status_code == 200


# ---------------------------------------------------------------- a build while the service answers


def test_a_build_and_publish_succeed_while_the_service_answers_interests(built, users, tmp_path: Path):
    """dbt build of the interest mart (and publish) on the warehouse while a live server answers /interests
    from another process: the build meets no lock, no request fails, the new copy is served without a restart.
    The service runs two workers (SERVE_WORKERS=2), each holding and refreshing its own copy."""
    warehouse = DuckDBWarehouse(tmp_path / built.warehouse.path.name)
    published = tmp_path / built.published_path.name
    shutil.copy(built.warehouse, warehouse)
    shutil.copy(built.published_path, published)
    handles, pick = sorted(users), random.Random(1)

    def ask(http) -> int | str:
        response = http.get(f"/interests/{pick.choice(handles)}", params={"limit": 5})
        ok = response.status_code == 200 and len(response.json()["interests"]) == 5
        return response.status_code if ok else f"{response.status_code}: {response.text[:200]}"

    with LiveService(published, tmp_path / "server.log", workers=2) as service:
        health = service.health_when(lambda h: h["interest_users"] > 0)
        assert health.get("interest_users") == 2000, service.log_tail()
        before = health["published_at"]
        service.keep_requesting(ask)
        time.sleep(1)  # a few requests before the build starts
        before_build = len(service.statuses)
        # cautious: tests on shared upstream models that also reference unselected models are left out
        build = run_dbt(
            warehouse,
            ["build", "--select", "user_interest_scores+", "--indirect-selection", "cautious"],
            tmp_path / "target",
            extra_env=built.dbt_env(),
        )
        assert build.returncode == 0
        during_build = len(service.statuses) - before_build
        publish(warehouse, published)
        health = service.health_when(lambda h: h["published_at"] != before, seconds=20)
        assert health["published_at"] != before, service.log_tail()
        assert health["interest_users"] == 2000 and health["interest_detail"] is None
        time.sleep(1)  # a few requests on the new snapshot too
    assert during_build >= 3, service.statuses
    assert service.statuses and all(s == 200 for s in service.statuses), [s for s in service.statuses if s != 200][:5]
