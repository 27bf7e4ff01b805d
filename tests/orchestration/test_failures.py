"""A permanent failure fails the run with the project's own one-line error and is not retried: a refused batch file
(here a real batch cut short, no longer JSON) leaves nothing of it landed and the score models unbuilt."""

from __future__ import annotations

from dagster import DagsterEventType, DagsterInstance

from orchestration.definitions import SCORE_JOB, build_definitions
from tests.support.data import REAL_SCORE_BATCHES, require_real
from tests.support.orchestration import orchestrator_env
from warehouse import DuckDBWarehouse


def test_a_refused_batch_fails_its_run_in_one_line_with_nothing_landed(tmp_path, monkeypatch):
    require_real(REAL_SCORE_BATCHES)
    folder = tmp_path / "data" / "score_batches"
    folder.mkdir(parents=True)
    real = (REAL_SCORE_BATCHES / "batch_0.json").read_bytes()
    (folder / "batch_0.json").write_bytes(real[: len(real) // 2])  # cut mid-record
    definitions = build_definitions(orchestrator_env(monkeypatch, tmp_path))
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("score_batches", ["0"])

    result = definitions.resolve_job_def(SCORE_JOB).execute_in_process(
        instance=instance, partition_key="0", raise_on_error=False
    )

    assert not result.success
    failures = [event for event in result.all_events if event.event_type == DagsterEventType.STEP_FAILURE]
    assert [event.step_key for event in failures] == ["raw__score_batches"]
    message = failures[0].step_failure_data.user_failure_data.description
    assert message.startswith(f"{folder / 'batch_0.json'}: invalid JSON at line ")
    assert "\n" not in message
    assert DagsterEventType.STEP_UP_FOR_RETRY not in [event.event_type for event in result.all_events]
    with DuckDBWarehouse(tmp_path / "warehouse.duckdb").open(read_only=True) as con:
        assert con.execute("select count(*) from raw.score_batches").fetchone() == (0,)
        assert con.execute("select count(*) from raw.landed_files").fetchone() == (0,)
