"""New data picked up by itself: sensors that request the runs a new score batch or a changed source folder needs.

- score batches: a new `DATA_DIR/score_batches/batch_<n>.json` becomes partition n and a run landing it and
  building the score models for it; on Postgres, a batch committed to raw.score_batches by someone else (the
  inference pipeline) a run of the score models alone. Batches run in order: a batch waits for the one before it.
  The run key is the batch, so a batch arriving twice, or while its run goes, is run once.
- documents, interests, retrieval corpora: a change of the folder's files (names, sizes, times) a run of its lander
  and everything downstream of it. A document waits for both of its files (texts_<id>.json and pages_<id>.csv).

Runs queue behind each other (the run coordinator runs one at a time: one writer per warehouse), so a sensor never
opens a DuckDB warehouse a run may be writing; only on Postgres does the score sensor read raw.score_batches.
"""

import hashlib
import time
from pathlib import Path

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    ResourceParam,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from landing.documents import DOCUMENT_FILE
from landing.score_batches import batch_files, batch_number
from orchestration.assets import NEW_BATCH_TAG, SCORE_BATCHES
from orchestration.resources import Platform
from warehouse import Warehouse

SENSOR_INTERVAL_SECONDS = 10  # how often each sensor looks: new data starts running within about this long
SETTLED_SECONDS = 1.0  # a file written less recently may still be being written: it waits for the next tick


def settled(path: Path, now: float) -> bool:
    return now - path.stat().st_mtime >= SETTLED_SECONDS


def next_batches(landed_or_queued: set[int], arrived: list[int]) -> tuple[list[int], list[int]]:
    """(the arrived batches to run now, in order; those that wait for a missing batch before them): batches run in
    order, each after the one before it."""
    new = sorted(set(arrived) - landed_or_queued)
    if not new:
        return [], []
    expected = max(landed_or_queued) + 1 if landed_or_queued else new[0]
    run = []
    for batch in new:
        if batch != expected:
            break
        run.append(batch)
        expected += 1
    return run, new[len(run) :]


def committed_batches(warehouse: Warehouse, after: int) -> list[int]:
    """The batches in raw.score_batches past `after`: committed by someone else when no file names them."""
    with warehouse.open(read_only=True) as con:
        present = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = 'score_batches'"
        ).fetchone()[0]
        if not present:
            return []
        rows = con.execute("select distinct batch from raw.score_batches where batch > ? order by 1", [after])
        return [batch for (batch,) in rows.fetchall()]


def score_batch_sensor(job, landing_key: AssetKey, score_model_keys: list):
    @sensor(
        name="score_batches_arrived",
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=DefaultSensorStatus.RUNNING,
        job=job,
        description="a new DATA_DIR/score_batches/batch_<n>.json (or, on Postgres, a batch committed to "
        "raw.score_batches): partition n, landed and built",
    )
    def score_batches_arrived(context: SensorEvaluationContext, platform: ResourceParam[Platform]):
        settings = platform.settings
        now = time.time()
        folder = settings.data_dir / "score_batches"
        arrived = batch_files(folder) if folder.is_dir() else []
        files = {batch_number(path): path for path in arrived if settled(path, now)}
        known = {int(key) for key in context.instance.get_dynamic_partitions(SCORE_BATCHES.name)}
        committed = []
        if settings.dbt_target == "postgres":
            committed = committed_batches(platform.warehouse, max(known) if known else -1)
        run, waiting = next_batches(known, [*files, *committed])
        if waiting:
            context.log.info(f"batches {waiting} wait for batch {run[-1] + 1 if run else max(known, default=-1) + 1}")
        if not run:
            return SkipReason("no new score batch")
        requests = [
            RunRequest(
                run_key=f"score-batch-{batch}",
                partition_key=str(batch),
                # a batch with no file is already in raw.score_batches: only the models run
                asset_selection=[landing_key, *score_model_keys] if batch in files else score_model_keys,
                tags={NEW_BATCH_TAG: str(batch)},
            )
            for batch in run
        ]
        return SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[SCORE_BATCHES.build_add_request([str(batch) for batch in run])],
        )

    return score_batches_arrived


def _files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.is_dir() else []


def incomplete_documents(files: list[Path]) -> list[str]:
    """The document ids with one of their two files only (texts_<id>.json, pages_<id>.csv)."""
    kinds: dict[str, set[str]] = {}
    for path in files:
        match = DOCUMENT_FILE.fullmatch(path.name)
        if match:
            doc_id = match["texts_id"] if match["texts_id"] is not None else match["pages_id"]
            kinds.setdefault(doc_id, set()).add("texts" if match["texts_id"] is not None else "pages")
    return sorted(doc_id for doc_id, found in kinds.items() if len(found) < 2)


def fingerprint(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def folder_sensor(folder_name: str, selection):
    @sensor(
        name=f"{folder_name}_changed",
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=DefaultSensorStatus.RUNNING,
        asset_selection=selection,
        description=f"a change in DATA_DIR/{folder_name}/: its lander and everything downstream",
    )
    def folder_changed(context: SensorEvaluationContext, platform: ResourceParam[Platform]):
        files = _files(platform.settings.data_dir / folder_name)
        now = time.time()
        if not all(settled(path, now) for path in files):
            return SkipReason(f"{folder_name}: a file is still being written")
        if folder_name == "documents" and incomplete_documents(files):
            return SkipReason(f"documents {incomplete_documents(files)} wait for their other file")
        if not files:
            return SkipReason(f"DATA_DIR/{folder_name}/ is empty or absent")
        current = fingerprint(files)
        if current == context.cursor:
            return SkipReason(f"DATA_DIR/{folder_name}/ unchanged")
        return SensorResult(run_requests=[RunRequest(run_key=f"{folder_name}-{current[:16]}")], cursor=current)

    return folder_changed
