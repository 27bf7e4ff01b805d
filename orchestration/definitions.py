"""The orchestrator's definitions (`dagster dev -m orchestration.definitions`, which `make orchestrate` runs): the
whole platform as one asset graph, its sensors, its resources, for the environment's DATA_DIR, DUCKDB_PATH and
DBT_TARGET. An entry point: the settings are read here, once.

No `from __future__ import annotations` (Dagster checks the annotations of what it calls).
"""

import os
import sys
from pathlib import Path

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    ScheduleDefinition,
    define_asset_job,
    definitions,
    in_process_executor,
)
from dagster_dbt import DbtCliResource

from core.settings import PROJECT_ROOT, Settings
from orchestration import assets, dbt_graph, sensors
from orchestration.resources import Platform
from orchestration.server import SCORE_JOB
from warehouse import target_warehouse

# dbt as the project runs it (pipeline.dbt_runner's console script): dagster-dbt adds its selection and log format
DBT_RUNNER = Path(sys.executable).parent / "dbt-runner"
AUDIT_JOB = "quality_audit"
AUDIT_CRON = "0 2 * * *"  # every night at 02:00 (the orchestrator's time zone)


def build_definitions(settings: Settings, manifest: Path | None = None) -> Definitions:
    """The definitions for `settings`, which must be the environment's (Settings.from_env()): the dbt runner and the
    Python steps run as processes of their own and read the same variables."""
    warehouse = target_warehouse(settings)
    # what profiles.yml reads, for dagster-dbt's own look at the project in this process (the dbt runner it starts
    # works it out again from the same settings)
    os.environ.update(warehouse.dbt_env())
    # a run's dbt tests are those whose every parent the run builds or reads: a relationship test between a model of
    # the run and one it does not build (user_interest_scores, corpus_qrels) waits for the run that builds both
    os.environ["DBT_INDIRECT_SELECTION"] = "buildable"
    manifest = manifest or dbt_graph.manifest_path(settings)
    if not manifest.exists():
        dbt_graph.prepare_manifest(settings, warehouse)
    score_models, platform_models, interest_models = assets.dbt_definitions(manifest)
    landers = [assets.documents, assets.corpora, assets.interests]
    score_keys = list(score_models.keys)
    not_rebuilt = AssetSelection.assets(assets.score_batches, *landers, *score_keys)
    folder_sensors = [
        sensors.folder_sensor(name, folder_run(lander, not_rebuilt))
        for name, lander in zip(("documents", "retrieval", "interests"), landers)
    ]
    # a batch's run: landing it and building the score models, checked by their dbt tests; the GX checkpoint reads
    # whole tables, so it runs in the nightly audit, the source-folder runs and on demand, not with every batch.
    # From the sensor, the UI's partition picker (a backfill) or `dagster job backfill`
    score_job = define_asset_job(
        SCORE_JOB,
        selection=AssetSelection.assets(assets.score_batches, score_models).without_checks()
        | AssetSelection.checks(*score_models.check_keys),
        description="score batches landed and the score models built for them (a re-run recomputes them)",
    )
    gx_checkpoint = assets.gx_checks()
    audit = ScheduleDefinition(
        name="nightly_audit",
        cron_schedule=AUDIT_CRON,
        job=define_asset_job(AUDIT_JOB, selection=AssetSelection.checks(gx_checkpoint)),
        default_status=DefaultScheduleStatus.RUNNING,
        description="the Great Expectations checkpoint over every covered table",
    )
    return Definitions(
        assets=[
            assets.score_batches,
            *landers,
            score_models,
            platform_models,
            interest_models,
            assets.interest_model,
            assets.published_index,
            assets.parquet_export,
        ],
        asset_checks=[gx_checkpoint],
        jobs=[score_job],
        schedules=[audit],
        sensors=[
            sensors.score_batch_sensor(score_job, dbt_graph.raw_asset_key("score_batches"), score_keys),
            *folder_sensors,
        ],
        resources={
            "dbt": DbtCliResource(
                project_dir=str(PROJECT_ROOT), profiles_dir=str(PROJECT_ROOT), dbt_executable=str(DBT_RUNNER)
            ),
            "platform": Platform(settings, warehouse),
        },
        executor=in_process_executor,  # one process per run, not per step: dbt and the warehouse are the work
    )


def folder_run(lander, not_rebuilt: AssetSelection) -> AssetSelection:
    """What a change of a source folder runs: its lander and everything downstream of it, with the models those read
    from other sources (the corpus views beside the document chunks, the interest inputs), so that the first run on
    a fresh warehouse finds them; never another lander or the score models."""
    downstream = AssetSelection.assets(lander).downstream()
    return downstream | (downstream.upstream() - not_rebuilt)


@definitions
def defs() -> Definitions:
    """What `dagster dev -m orchestration.definitions` loads, when it loads it: importing this module builds
    nothing (no dbt parse, no environment written)."""
    return build_definitions(Settings.from_env())
