"""The orchestrator's assets: the landers (one per raw source; score batches by partition), the dbt project (from
its manifest, dbt_graph), the Python steps of `make run` after dbt (interest training, publish, export) and the
Great Expectations checkpoint as asset checks.

No `from __future__ import annotations` here: Dagster reads the annotations of the decorated functions (`context`)
at definition time, and a string annotation fails its check.
"""

import json
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSpec,
    BackfillPolicy,
    Backoff,
    DynamicPartitionsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    ResourceParam,
    RetryPolicy,
    asset,
    multi_asset,
    multi_asset_check,
)
from dagster_dbt import DbtCliResource, dbt_assets

from landing.land import ensure_raw_tables, land_folder
from landing.score_batches import land_score_batch
from orchestration import dbt_graph, monitoring
from orchestration.resources import Platform
from orchestration.server import SCORE_PARTITIONS
from orchestration.steps import StepFailed, run_step
from pipeline.export import EXPORTS
from pipeline.publish import SERVED_TABLES
from training.interests.data import TRAINING_TABLES
from warehouse import LandingError

SCORE_BATCHES = DynamicPartitionsDefinition(name=SCORE_PARTITIONS)  # one partition per batch number
# a lost connection (a restarted Postgres, a Spark session gone) is retried after 10, 20, 40 s; a refused file or a
# failed test is a Failure that is not retried
TRANSIENT_RETRY = RetryPolicy(max_retries=3, delay=10, backoff=Backoff.EXPONENTIAL)
NEW_BATCH_TAG = "score_batch"  # a run the sensor asked for a newly arrived batch (sensors.score_batch_sensor)
WAREHOUSE_POOL = "warehouse"  # one writer at a time per warehouse: DuckDB's single writer, Postgres's writer lock


def _fail(message: str) -> Failure:
    return Failure(description=message, allow_retries=False)


# ---------------------------------------------------------------------------------------------------- landing


@asset(
    key=dbt_graph.raw_asset_key("score_batches"),
    partitions_def=SCORE_BATCHES,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="landing",
    retry_policy=TRANSIENT_RETRY,
    pool=WAREHOUSE_POOL,
    description="DATA_DIR/score_batches/batch_<n>.json landed verbatim into raw.score_batches (landing.score_batches)",
)
def score_batches(context: AssetExecutionContext, platform: ResourceParam[Platform]) -> MaterializeResult:
    """Each batch of the run's partitions, in order, one transaction each; a batch with no file is one committed to
    raw.score_batches by someone else (the inference pipeline), already there. A refused file fails the run with
    the loader's own one line, the batch not landed."""
    settings = platform.settings
    folder = settings.data_dir / "score_batches"
    landed, rows = [], 0
    with platform.warehouse.open() as con:
        ensure_raw_tables(con)
        for key in context.partition_keys:
            path = folder / f"batch_{key}.json"
            if not path.exists():
                context.log.info(f"batch {key}: no {path}, already in raw.score_batches")
                continue
            try:
                result = land_score_batch(con, path)
            except LandingError as exc:
                raise _fail(str(exc)) from None
            context.log.info(f"batch {key}: {result.status} ({result.rows} rows) from {path}")
            landed.append(key)
            rows += result.rows
    return MaterializeResult(metadata={"batches": ", ".join(landed) or "none", "rows landed": rows})


def _folder_lander(folder_name: str, tables: tuple[str, ...], description: str):
    @multi_asset(
        name=f"land_{folder_name}",
        specs=[AssetSpec(dbt_graph.raw_asset_key(table), group_name="landing") for table in tables],
        retry_policy=TRANSIENT_RETRY,
        pool=WAREHOUSE_POOL,
        description=description,
    )
    def land(context: AssetExecutionContext, platform: ResourceParam[Platform]):
        folder = platform.settings.data_dir / folder_name
        if not folder.is_dir():
            context.log.info(f"{folder} does not exist: nothing to land")
        else:
            with platform.warehouse.open() as con:
                ensure_raw_tables(con)
                refusals = land_folder(con, folder_name, folder)
            if refusals:
                raise _fail(f"{len(refusals)} refused, the rest landed: {refusals[0]}")
        for table in tables:
            yield MaterializeResult(asset_key=dbt_graph.raw_asset_key(table))

    return land


documents = _folder_lander(
    "documents", ("document_texts", "document_pages"), "DATA_DIR/documents/texts_<id>.json + pages_<id>.csv"
)
corpora = _folder_lander(
    "retrieval", ("corpus_passages", "corpus_queries", "corpus_qrels"), "DATA_DIR/retrieval/<corpus>/"
)
interests = _folder_lander("interests", ("users", "interests", "user_activity"), "DATA_DIR/interests/")


# ---------------------------------------------------------------------------------------------------- dbt


def dbt_definitions(manifest: Path) -> list:
    """The three dbt asset definitions of dbt_graph's docstring, from `manifest`."""

    @dbt_assets(
        manifest=manifest,
        select=dbt_graph.SCORE_MODELS,
        name="score_models",
        partitions_def=SCORE_BATCHES,
        backfill_policy=BackfillPolicy.single_run(),
        dagster_dbt_translator=dbt_graph.TRANSLATOR,
        retry_policy=TRANSIENT_RETRY,
        pool=WAREHOUSE_POOL,
    )
    def score_models(context: AssetExecutionContext, dbt: DbtCliResource, platform: ResourceParam[Platform]):
        warehouse = platform.warehouse
        first = int(context.partition_key_range.start)
        built = dbt_graph.built_through(warehouse)
        if built is not None and built >= first:
            if NEW_BATCH_TAG in context.run.tags:
                # a new batch already built: an earlier run found it committed beside its own (a backlog on
                # Postgres); recomputing it would redo that run's work for the same result
                context.log.info(f"batch {first} is already built (batches up to {built} are): nothing to recompute")
            else:  # a re-run from the UI or the command line: recompute
                context.log.info(f"batches up to {built} are built: rewinding the score models to before {first}")
                dbt_graph.rewind(warehouse, first, platform.settings.orchestrator_home / "dbt" / "rewind")
        # data tests on the batches of this run only (macros/tests/test_scope.sql): what keeps a batch's build flat
        scope = json.dumps({"test_since_batch": first})
        events = dbt_graph.stream_or_fail(dbt.cli(["build", "--vars", scope], context=context).stream())
        yield from monitoring.with_score_metadata(events, warehouse, platform.settings.orchestrator_home / "monitoring")

    @dbt_assets(
        manifest=manifest,
        select="fqn:*",
        exclude=f"{dbt_graph.SCORE_MODELS} {dbt_graph.INTEREST_MODELS}",
        name="platform_models",
        dagster_dbt_translator=dbt_graph.TRANSLATOR,
        retry_policy=TRANSIENT_RETRY,
        pool=WAREHOUSE_POOL,
    )
    def platform_models(context: AssetExecutionContext, dbt: DbtCliResource):
        yield from dbt_graph.stream_or_fail(dbt.cli(["build"], context=context).stream())

    @dbt_assets(
        manifest=manifest,
        select=dbt_graph.INTEREST_MODELS,
        name="interest_models",
        dagster_dbt_translator=dbt_graph.TRANSLATOR,
        retry_policy=TRANSIENT_RETRY,
        pool=WAREHOUSE_POOL,
    )
    def interest_models(context: AssetExecutionContext, dbt: DbtCliResource):
        yield from dbt_graph.stream_or_fail(dbt.cli(["build"], context=context).stream())

    return [score_models, platform_models, interest_models]


# ---------------------------------------------------------------------------------------------------- Python steps


def _step(context: AssetExecutionContext, module: str, *args: str) -> list[str]:
    try:
        return run_step(module, *args, log=context.log.info).output
    except StepFailed as exc:
        raise _fail(str(exc)) from None


@asset(
    key=dbt_graph.INTEREST_MODEL_ASSET,
    deps=[dbt_graph.model_asset_key(name) for name in TRAINING_TABLES],
    group_name="interests",
    pool=WAREHOUSE_POOL,
    description="the interest model trained on the warehouse when none is current (python -m training.interests "
    "--if-missing, as `make run`): ARTIFACTS_DIR/interests/",
)
def interest_model(context: AssetExecutionContext) -> MaterializeResult:
    output = _step(context, "training.interests", "--if-missing")
    return MaterializeResult(metadata={"result": output[-1] if output else ""})


@asset(
    deps=[dbt_graph.model_asset_key(name) for name in SERVED_TABLES],
    group_name="serving",
    pool=WAREHOUSE_POOL,
    description="what the service reads, copied to PUBLISHED_PATH, swapped in atomically (python -m pipeline.publish)",
)
def published_index(context: AssetExecutionContext) -> MaterializeResult:
    output = _step(context, "pipeline.publish")
    return MaterializeResult(metadata={"published": output[-1] if output else ""})


@asset(
    deps=[dbt_graph.model_asset_key(name) for name in EXPORTS],
    group_name="serving",
    pool=WAREHOUSE_POOL,
    description="the score marts and document vectors as Parquet under OUTPUT_DIR (python -m pipeline.export)",
)
def parquet_export(context: AssetExecutionContext) -> MaterializeResult:
    output = _step(context, "pipeline.export")
    return MaterializeResult(metadata={"exported": MetadataValue.md("\n".join(f"- {line}" for line in output))})


# ---------------------------------------------------------------------------------------------------- GX checks


def gx_checks():
    """The Great Expectations checkpoint (quality.checkpoint) as one asset check per validated table: a failed
    critical expectation is an error and fails the step (it marks the run), a failed warning one a warning."""
    from quality.expectations import SUITES

    tables = sorted({make()["table"] for make in SUITES})

    @multi_asset_check(
        specs=[
            AssetCheckSpec(GX_CHECK, asset=dbt_graph.table_asset_key(table), description=f"GX suite of {table}")
            for table in tables
        ],
        name="great_expectations_checkpoint",
        can_subset=True,
    )
    def checkpoint(context, platform: ResourceParam[Platform]):
        # in a process of its own, as `make run` runs it (GX imports pyspark, which exits a run worker's process)
        outcomes_path = platform.settings.orchestrator_home / "gx" / f"{context.op_execution_context.run_id}.json"
        try:
            _step(context, "quality.checkpoint", "--outcomes", str(outcomes_path))
        except Failure:
            if not outcomes_path.exists():
                raise  # it failed before validating anything: its own error line is the failure
        critical = []
        for outcome in json.loads(outcomes_path.read_text()):
            critical += outcome["critical"]
            yield AssetCheckResult(
                asset_key=dbt_graph.table_asset_key(outcome["table"]),
                check_name=GX_CHECK,
                passed=not outcome["failed"],
                severity=AssetCheckSeverity.ERROR if outcome["critical"] else AssetCheckSeverity.WARN,
                metadata={
                    "suite": outcome["suite"],
                    "rows": outcome["rows"],
                    "expectations passed": f"{outcome['total'] - len(outcome['failed'])}/{outcome['total']}",
                    "failed": MetadataValue.md("\n".join(f"- {line}" for line in outcome["failed"]) or "none"),
                },
            )
        outcomes_path.unlink()
        if critical:
            raise _fail(f"GX checkpoint: {len(critical)} critical expectation(s) failed: {critical[0]}")

    return checkpoint


GX_CHECK = "great_expectations"
