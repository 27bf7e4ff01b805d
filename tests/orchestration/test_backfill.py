"""Backfills by batch on the 20 real batches: the orchestrator's score job over every batch at once equals the
independent recomputation, and re-running a range in the middle of the history really recomputes it (a row
spoiled on purpose comes back) and leaves every mart as the one-shot build left it; a failed dbt test marks its
check and fails the run."""

from __future__ import annotations

import shutil

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from orchestration.assets import NEW_BATCH_TAG
from orchestration.definitions import SCORE_JOB, build_definitions
from tests.models.test_score_pipeline_real import TOLERANCE, reference
from tests.support.data import REAL_SCORE_BATCHES, require_real
from tests.support.orchestration import orchestrator_env
from tests.support.score_marts import MARTS, assert_same, read
from warehouse import DuckDBWarehouse

pytestmark = pytest.mark.slow


def run_batches(definitions, instance, first: int, last: int):
    result = definitions.resolve_job_def(SCORE_JOB).execute_in_process(
        instance=instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: str(first), ASSET_PARTITION_RANGE_END_TAG: str(last)},
    )
    assert result.success
    return result


def marts(warehouse: DuckDBWarehouse) -> dict:
    with warehouse.open(read_only=True) as con:
        return {table: read(con, table) for table in MARTS}


@pytest.fixture(scope="module")
def one_shot_build(tmp_path_factory):
    """The 20 real batches built by the score job in one run (the one-shot build): (definitions, instance,
    warehouse, the run's result)."""
    require_real(REAL_SCORE_BATCHES)
    folder = tmp_path_factory.mktemp("backfill")
    shutil.copytree(REAL_SCORE_BATCHES, folder / "data" / "score_batches")
    with pytest.MonkeyPatch.context() as env:
        settings = orchestrator_env(env, folder, folder / "data")
        definitions = build_definitions(settings)
        instance = DagsterInstance.ephemeral()
        instance.add_dynamic_partitions("score_batches", [str(batch) for batch in range(20)])
        built = run_batches(definitions, instance, 0, 19)
        yield definitions, instance, DuckDBWarehouse(settings.duckdb_path), built


def test_a_backfilled_range_is_recomputed_and_equals_the_one_shot_build(one_shot_build):
    definitions, instance, warehouse, built = one_shot_build
    one_shot = marts(warehouse)
    # the newest iteration's drift and growth ride on industry_distribution_history's materialization (one per
    # partition of the run, all alike)
    drift = [
        event.materialization.metadata
        for event in built.get_asset_materialization_events()
        if event.asset_key == AssetKey("industry_distribution_history")
    ][-1]
    newest = one_shot["industry_distribution_history"].query("iteration == 19")
    assert drift["iteration"].value == 19
    assert drift["max KS vs first"].value == newest["ks_vs_first"].max()
    assert drift["scores rows"].value == newest["scores_rows"].max() == 7837
    before = one_shot["industry_distribution_history"].query("iteration == 18")["scores_rows"].max()
    assert drift["scores growth"].value == 7837 - before > 0
    _, _, history, _ = reference()
    frame = one_shot["percentile_history"]
    assert len(frame) == len(history)
    for row in frame.itertuples():
        assert abs(row.percentile - history[(row.iteration, row.id)][3]) <= TOLERANCE

    with warehouse.open() as con:  # spoil what the backfill must recompute, inside and after the range
        con.execute("update percentile_history set percentile = -1 where iteration in (10, 15)")
        con.execute("update scores set percentile = -1 where updated_iteration = 12")
    run_batches(definitions, instance, 9, 11)  # a range in the middle of the history

    again = marts(warehouse)
    for table in MARTS:
        assert_same(one_shot[table], again[table], table)


def test_a_failed_dbt_test_fails_the_run_and_marks_its_check(one_shot_build):
    """A row of the newest iteration spoiled (a percentile out of range), then batch 19 asked for again as the sensor
    asks for a new batch (built already: nothing recomputed, the rows tested again): the data test fails, its check
    is marked failed, the run fails in one line naming the test, not retried."""
    definitions, instance, warehouse, _ = one_shot_build
    with warehouse.open() as con:
        con.execute(
            "update scores set percentile = 150 where id = (select min(id) from scores where updated_iteration = 19)"
        )
    result = definitions.resolve_job_def(SCORE_JOB).execute_in_process(
        instance=instance, partition_key="19", tags={NEW_BATCH_TAG: "19"}, raise_on_error=False
    )
    assert not result.success
    failed_checks = [
        event.event_specific_data.check_name
        for event in result.all_events
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION and not event.event_specific_data.passed
    ]
    assert [name for name in failed_checks if name.startswith("values_between_scores_percentile")], failed_checks
    failures = [event for event in result.all_events if event.event_type == DagsterEventType.STEP_FAILURE]
    message = failures[0].step_failure_data.user_failure_data.description
    assert message.startswith("values_between_scores_percentile") and "Got 1 result" in message, message
    assert DagsterEventType.STEP_UP_FOR_RETRY not in [event.event_type for event in result.all_events]
