"""Shared fixtures: the real data beside the checkout, scratch warehouses, and dbt."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import duckdb
import pytest

from core.settings import PROJECT_ROOT, Settings
from embeddings.model_source import ModelSpec, resolve_model
from pipeline.dbt_runner import run_dbt
from warehouse import DuckDBWarehouse, Warehouse

# tests never see the developer's trained or promoted models (artifacts/models/CURRENT would change the
# embedding model every test expects): a fresh, empty artifacts folder for the whole session
os.environ["ARTIFACTS_DIR"] = tempfile.mkdtemp(prefix="test_artifacts_")
# dbt run without a target folder of its own writes the session's, never the checkout's target/: `make test` runs
# two pytest processes at once, and two dbt processes must not share one manifest and partial-parse cache
os.environ["DBT_TARGET_PATH"] = tempfile.mkdtemp(prefix="test_dbt_target_")
os.environ["DBT_LOG_PATH"] = os.environ["DBT_TARGET_PATH"] + "/logs"


def model(source: str = "") -> ModelSpec:
    """A model source resolved as the platform resolves it, against the tests' artifacts folder."""
    settings = Settings.from_env()
    return resolve_model(source, settings.artifacts_dir, settings.embedding_backend)


REAL_DATA = (PROJECT_ROOT.parent / "shared" / "data").resolve()
REAL_SCORE_BATCHES = REAL_DATA / "score_batches"


def throwaway_postgres(name: str):
    """A local Postgres of its own for one test module, under .engines/<name>/ (never the developer's server):
    started empty, yielded as its PostgresServer, stopped and removed afterwards. Use as a module fixture:
    `yield from throwaway_postgres("postgres-test-x")` in a module-scoped fixture."""
    import shutil

    from warehouse.local_postgres import LocalPostgres

    server = LocalPostgres(PROJECT_ROOT / ".engines" / name)
    server.stop()  # a leftover of an interrupted run
    if server.state_dir.exists():
        shutil.rmtree(server.state_dir)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(server.state_dir, ignore_errors=True)


def require_real(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"real data missing: {path} (the shared data folder must sit beside the checkout)")
    return path


REAL_DOCUMENT = "12345"


def make(goal: str, env: dict[str, str]) -> str:
    """`make <goal>` in the checkout, as a user runs it; its output (the test fails with its tail if it fails)."""
    result = subprocess.run(["make", "--no-print-directory", goal], cwd=PROJECT_ROOT, env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, f"make {goal} failed:\n{result.stdout[-4000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def make_run_and_export(folder: Path, data: Path, target: str, engine_env: dict[str, str]) -> dict:
    """`make run` then `make export` on DBT_TARGET=`target` over DATA_DIR `data`, every output under `folder`."""
    env = {**os.environ, "DATA_DIR": str(data), "DBT_TARGET": target,
           "DUCKDB_PATH": str(folder / "warehouse.duckdb"), "OUTPUT_DIR": str(folder / "output"),
           "PUBLISHED_PATH": str(folder / "published.duckdb"), "DBT_TARGET_PATH": str(folder / "target"),
           "DBT_LOG_PATH": str(folder / "logs"), **engine_env}
    log = make("run", env) + make("export", env)
    return {"output": folder / "output", "log": log, "data": data, "folder": folder, "env": env}


@pytest.fixture(scope="session")
def real_run_data(tmp_path_factory) -> Path:
    """A DATA_DIR of the 20 real batches and the real document 12345 (links into the shared data)."""
    documents = require_real(REAL_DATA / "documents")
    data = tmp_path_factory.mktemp("real_run") / "data"
    (data / "documents").mkdir(parents=True)
    (data / "score_batches").symlink_to(require_real(REAL_SCORE_BATCHES))
    for name in (f"texts_{REAL_DOCUMENT}.json", f"pages_{REAL_DOCUMENT}.csv"):
        (data / "documents" / name).symlink_to(documents / name)
    return data


@pytest.fixture(scope="session")
def duckdb_reference_run(real_run_data) -> dict:
    """`make run` + `make export` on DuckDB over real_run_data: what the other targets are compared with (run
    once for every engine's test module)."""
    run = make_run_and_export(real_run_data.parent / "duckdb", real_run_data, "duckdb", {})
    return {**run, "warehouse": DuckDBWarehouse(run["folder"] / "warehouse.duckdb")}


class Dbt:
    """dbt against one scratch warehouse, with its own target folder (so tests never share dbt's state)."""

    def __init__(self, warehouse: Warehouse, target_path: Path):
        self.warehouse = warehouse
        self.target_path = target_path

    def __call__(self, *args: str, expect_success: bool = True) -> subprocess.CompletedProcess:
        return run_dbt(self.warehouse, list(args), self.target_path, check=expect_success)


def raw_warehouse(folder: Path, fill=lambda con: None) -> Dbt:
    """dbt on a scratch warehouse `folder/warehouse.duckdb` holding every raw table, `fill(con)` landed into them."""
    from landing.land import ensure_raw_tables

    warehouse = DuckDBWarehouse(folder / "warehouse.duckdb")
    with warehouse.open() as con:
        ensure_raw_tables(con)
        fill(con)
    return Dbt(warehouse, folder / "target")


@pytest.fixture
def warehouse(tmp_path: Path) -> DuckDBWarehouse:
    return DuckDBWarehouse(tmp_path / "warehouse.duckdb")


@pytest.fixture
def dbt(warehouse: DuckDBWarehouse, tmp_path: Path) -> Dbt:
    return Dbt(warehouse, tmp_path / "dbt_target")


def query(warehouse: DuckDBWarehouse | Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()



def assert_error(response, status: int, *fragments: str) -> None:
    """An API error: the status, and a JSON `detail` message naming each fragment."""
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    for fragment in fragments:
        assert fragment in detail, (fragment, detail)


REAL_CORPUS = REAL_DATA / "retrieval" / "msmarco-trec-dl"
# real TREC DL 2019 queries whose judged passages make the small search corpus of the tests
SEARCH_TEST_QUERY_IDS = ("19335", "47923", "87181", "1110199", "1129237")


def write_corpus_subset(target: Path, query_ids: tuple[str, ...] = SEARCH_TEST_QUERY_IDS) -> Path:
    """The judged passages of a few real queries, in BEIR layout: a real corpus small enough to embed fast."""
    import json

    require_real(REAL_CORPUS)
    target.mkdir(parents=True)
    qrels = [line.rstrip("\n").split("\t") for line in (REAL_CORPUS / "qrels.tsv").read_text().splitlines()[1:]]
    judged = [row for row in qrels if row[0] in query_ids]
    passages = {row[1] for row in judged}
    lines = (REAL_CORPUS / "corpus.jsonl").read_bytes().split(b"\n")  # '\n' only: texts hold U+2028
    (target / "corpus.jsonl").write_bytes(b"".join(line + b"\n" for line in lines if line and json.loads(line)["_id"] in passages))
    queries = [line for line in (REAL_CORPUS / "queries.jsonl").read_text().splitlines() if json.loads(line)["_id"] in query_ids]
    (target / "queries.jsonl").write_text("\n".join(queries) + "\n")
    (target / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join("\t".join(row) + "\n" for row in judged))
    return target


class SearchWarehouse:
    """A built and published warehouse with the sample document and a small real corpus (real model)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.data_dir = folder / "data"
        self.warehouse = DuckDBWarehouse(folder / "warehouse.duckdb")
        self.published_path = folder / "warehouse.published.duckdb"
        self.dbt = Dbt(self.warehouse, folder / "target")

    def judged(self) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
        """The corpus's queries (id -> text) and graded judgments (query id -> passage id -> grade)."""
        from search.evaluate import judged_corpora

        return judged_corpora(self.warehouse)["msmarco-mini"]


def write_search_data(data_dir: Path) -> None:
    """A DATA_DIR's search sources: the sample document 10001 and the judged passages of 5 real TREC DL queries."""
    import shutil

    (data_dir / "documents").mkdir(parents=True)
    for name in ("texts_10001.json", "pages_10001.csv"):
        shutil.copy(PROJECT_ROOT / "sample_data" / "documents" / name, data_dir / "documents" / name)
    write_corpus_subset(data_dir / "retrieval" / "msmarco-mini")


@pytest.fixture(scope="session")
def search_warehouse(tmp_path_factory) -> SearchWarehouse:
    from landing.land import land_all
    from pipeline.publish import publish

    built = SearchWarehouse(tmp_path_factory.mktemp("search"))
    write_search_data(built.data_dir)
    land_all(built.data_dir, built.warehouse)
    built.dbt("build")
    publish(built.warehouse, built.published_path)
    return built


@pytest.fixture(scope="session")
def interests_and_search_warehouse(tmp_path_factory):
    """The sample interests (trained model, mart) and the search sources, built and published as `make run` does:
    one build for the modules that read it (tests/test_api_contract.py, tests/test_interests_api.py), which copy it
    before changing anything."""
    from tests.interests_warehouse import InterestsWarehouse

    return InterestsWarehouse.build(tmp_path_factory.mktemp("interests_and_search"), more_data=write_search_data)


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

        env = {**os.environ, "PUBLISHED_PATH": str(self.published), "SEARCH_REFRESH_SECONDS": "0.5", "HF_HUB_OFFLINE": "1",
               "SERVE_WORKERS": str(self.workers), **self.env}
        with open(self.log_path, "w") as log:
            self._server = subprocess.Popen(
                [sys.executable, "-m", "serving.api", "--port", str(self.port)],
                cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
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
