"""The orchestrator on DBT_TARGET=postgres, on the real score batches: the graph is DuckDB's; batches committed to
raw.score_batches by someone else (as the inference pipeline would, no file in DATA_DIR) are picked up by the sensor
and built through the project's dbt runner, a backlog's later runs recomputing nothing; the Postgres server
restarted while dbt runs is a transient failure, retried with backoff, and the marts come out as the independent
recomputation says; the orchestrator's own runs and events can live in Postgres (ORCHESTRATOR_STORAGE=postgres)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg2
import pytest
from dagster import DagsterEventType, DagsterInstance, build_sensor_context

from core.settings import PROJECT_ROOT, Settings
from landing.land import ensure_raw_tables
from landing.score_batches import land_score_batch
from orchestration.definitions import SCORE_JOB, build_definitions
from orchestration.server import STORAGE_DATABASE, instance_yaml, storage_server
from tests.models.test_score_pipeline_real import TOLERANCE, reference
from tests.support.data import REAL_SCORE_BATCHES, require_real
from tests.support.orchestration import graph_shape, orchestrator_env
from tests.support.postgres import fresh_database
from tests.support.warehouses import throwaway_postgres
from warehouse import PostgresWarehouse
from warehouse.local_postgres import LocalPostgres
from warehouse.postgres import connect_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
STATE = "postgres-test-orchestration"
BATCHES = 4  # batches 0..3: iterations 2 and 3
DOWN_SECONDS = 3


@pytest.fixture(scope="module")
def postgres():
    yield from throwaway_postgres(STATE)


def configure(monkeypatch, server, folder: Path, **extra: str) -> Settings:
    """The orchestrator's environment, as `make orchestrate` would be started with it on this server."""
    return orchestrator_env(monkeypatch, folder, DBT_TARGET="postgres", **server.env(), **extra)


def commit_batches(server, batches) -> None:
    """What the inference pipeline does: batches written straight into raw.score_batches (the project's loader,
    so they carry their ledger rows; no file in DATA_DIR)."""
    with PostgresWarehouse(server).open() as con:
        ensure_raw_tables(con)
        for batch in batches:
            land_score_batch(con, REAL_SCORE_BATCHES / f"batch_{batch}.json")


def sensor_requests(definitions, instance):
    sensor = definitions.resolve_sensor_def("score_batches_arrived")
    with build_sensor_context(instance=instance, resources={"platform": definitions.resources["platform"]}) as context:
        result = sensor(context)
    if not hasattr(result, "run_requests"):  # a SkipReason: nothing to run
        return []
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result.run_requests


def restart_while_dbt_builds(server, server_state: Path, restarted: dict) -> threading.Thread:
    """A thread that restarts the local server while dbt runs a query on it (fast shutdown: dbt's session is
    terminated, and the server stays down for DOWN_SECONDS), noting when."""

    def dbt_query_running() -> bool:
        try:
            con = psycopg2.connect(server.dsn(), connect_timeout=2)
        except psycopg2.OperationalError:
            return False
        try:
            with con.cursor() as cursor:
                cursor.execute(
                    "select count(*) from pg_stat_activity where state = 'active' and pid <> pg_backend_pid() "
                    "and datname = current_database() and application_name like 'dbt%'"
                )
                return cursor.fetchone()[0] > 0
        finally:
            con.close()

    def watch():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if dbt_query_running():
                local = LocalPostgres(server_state)
                restarted["at"] = time.time()
                local.stop()
                time.sleep(DOWN_SECONDS)  # the nodes dbt starts meanwhile find no server
                local.start()
                restarted["back"] = time.time()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_committed_batches_are_built_and_a_restart_mid_build_is_retried(postgres, tmp_path, monkeypatch):
    require_real(REAL_SCORE_BATCHES)
    server = fresh_database(postgres, "orchestrated")
    duckdb = build_definitions(orchestrator_env(monkeypatch, tmp_path / "duckdb"))
    definitions = build_definitions(configure(monkeypatch, server, tmp_path))
    # one graph whatever the engine: Postgres's manifest gives DuckDB's assets, parents and checks
    assert graph_shape(definitions) == graph_shape(duckdb)
    instance = DagsterInstance.ephemeral()
    commit_batches(server, range(BATCHES))

    requests = sensor_requests(definitions, instance)
    assert [request.partition_key for request in requests] == [str(batch) for batch in range(BATCHES)]
    assert all(key.path != ["raw", "score_batches"] for request in requests for key in request.asset_selection)
    assert sensor_requests(definitions, instance) == []  # asked once

    restarted: dict = {}
    watcher = restart_while_dbt_builds(server, PROJECT_ROOT / ".engines" / STATE, restarted)
    job = definitions.resolve_job_def(SCORE_JOB)
    first = requests[0]
    started = time.time()
    result = job.execute_in_process(
        instance=instance, partition_key=first.partition_key, asset_selection=first.asset_selection
    )
    assert result.success
    watcher.join(timeout=5)
    assert "at" in restarted, "the server was not restarted during the build"
    assert DagsterEventType.STEP_UP_FOR_RETRY in [event.event_type for event in result.all_events]
    print(
        f"batch 0: server restarted {restarted['at'] - started:.1f} s into the run, back after "
        f"{restarted['back'] - restarted['at']:.1f} s; the run succeeded {time.time() - started:.1f} s after it "
        "started, on a retry"
    )
    # batch 0's run found batches 1-3 committed beside it and built them: the run asked for batch 1 recomputes
    # nothing (a backlog's runs are not a rewind each)
    second = requests[1]
    rest = job.execute_in_process(
        instance=instance, partition_key=second.partition_key, asset_selection=second.asset_selection, tags=second.tags
    )
    assert rest.success
    said = [record.user_message for record in instance.all_logs(rest.run_id)]
    assert any("batch 1 is already built" in line for line in said), said
    assert not any("rewinding" in line for line in said)

    _, _, history, _ = reference()
    with connect_postgres(server.dsn(), read_only=True) as con:
        rows = con.execute("select iteration, id, percentile from percentile_history").fetchall()
    assert len(rows) == sum(1 for (iteration, _) in history if iteration < BATCHES)
    for iteration, asset_id, percentile in rows:
        assert abs(percentile - history[(iteration, asset_id)][3]) <= TOLERANCE


def test_the_orchestrators_runs_and_events_live_in_postgres(postgres, tmp_path, monkeypatch):
    require_real(REAL_SCORE_BATCHES)
    server = fresh_database(postgres, "orchestrated_storage")
    settings = configure(monkeypatch, server, tmp_path, ORCHESTRATOR_STORAGE="postgres")
    definitions = build_definitions(settings)
    settings.orchestrator_home.mkdir(parents=True, exist_ok=True)
    (settings.orchestrator_home / "dagster.yaml").write_text(instance_yaml(settings, storage_server(settings)))
    (tmp_path / "data" / "score_batches").mkdir()
    for batch in range(3):
        (tmp_path / "data" / "score_batches" / f"batch_{batch}.json").write_bytes(
            (REAL_SCORE_BATCHES / f"batch_{batch}.json").read_bytes()
        )
    with DagsterInstance.from_config(str(settings.orchestrator_home)) as instance:
        instance.add_dynamic_partitions("score_batches", ["0", "1", "2"])
        result = definitions.resolve_job_def(SCORE_JOB).execute_in_process(
            instance=instance,
            tags={"dagster/asset_partition_range_start": "0", "dagster/asset_partition_range_end": "2"},
        )
        assert result.success
        run_id = result.run_id
    storage = psycopg2.connect(server.dsn().replace(f"dbname={server.dbname}", f"dbname={STORAGE_DATABASE}"))
    try:
        with storage.cursor() as cursor:
            cursor.execute("select status from runs where run_id = %s", [run_id])
            assert cursor.fetchone() == ("SUCCESS",)
            cursor.execute("select count(*) from event_logs where run_id = %s", [run_id])
            assert cursor.fetchone()[0] > 20
    finally:
        storage.close()
