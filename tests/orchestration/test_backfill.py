"""Backfills by batch on the 20 real batches: the orchestrator's score job over every batch at once equals the
independent recomputation, and re-running a range in the middle of the history really recomputes it (a row
spoiled on purpose comes back) and leaves every mart as the one-shot build left it."""

from __future__ import annotations

import shutil

import pytest
from dagster import AssetKey, DagsterInstance
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

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


def test_a_backfilled_range_is_recomputed_and_equals_the_one_shot_build(tmp_path, monkeypatch):
    require_real(REAL_SCORE_BATCHES)
    data = tmp_path / "data"
    shutil.copytree(REAL_SCORE_BATCHES, data / "score_batches")
    settings = orchestrator_env(monkeypatch, tmp_path, data)
    warehouse = DuckDBWarehouse(settings.duckdb_path)
    definitions = build_definitions(settings)
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("score_batches", [str(batch) for batch in range(20)])

    built = run_batches(definitions, instance, 0, 19)  # the one-shot build
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
