"""A `dbt build` killed (SIGKILL) after a mart was written leaves marts that disagree with each other; the next
build `make run` runs (`python -m pipeline.dbt_runner build ...`) says so in one line, repairs it, and ends with
exactly the marts of a build that was never interrupted. On the sample's score batches, DuckDB."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.scores.dbt_timing import SCORE_PIPELINE
from core.settings import PROJECT_ROOT
from landing.land import ensure_raw_tables
from landing.score_batches import batch_files, land_score_batch
from tests.support.score_marts import MARTS, assert_same, read
from tests.support.warehouses import query
from warehouse import DuckDBWarehouse
from warehouse.duckdb_file import connect

SAMPLE_BATCHES = PROJECT_ROOT / "sample_data" / "score_batches"
# what `make run` builds first (the Makefile's run target), limited to the score pipeline: the other pipelines
# have no raw rows here and would only add the embedding model's load time
BUILD = ("build", "--select", SCORE_PIPELINE, "--exclude", "user_interest_scores+")


def dbt_runner(warehouse: Path, target: Path) -> tuple[list[str], dict[str, str]]:
    env = {
        **os.environ,
        "DUCKDB_PATH": str(warehouse),
        "DBT_TARGET": "duckdb",
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(target / "logs"),
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    return [sys.executable, "-m", "pipeline.dbt_runner", *BUILD], env


def build(warehouse: Path, target: Path) -> subprocess.CompletedProcess:
    command, env = dbt_runner(warehouse, target)
    return subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)


def land(warehouse: Path, paths: list[Path]) -> None:
    with connect(warehouse) as con:
        ensure_raw_tables(con)
        for path in paths:
            land_score_batch(con, path)


def build_killed_after(warehouse: Path, target: Path, model: str) -> list[str]:
    """The build, SIGKILLed (dbt too: its process group) as soon as dbt reports `model` created; dbt's lines."""
    command, env = dbt_runner(warehouse, target)
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines, deadline = [], time.monotonic() + 240
    try:
        for line in process.stdout:
            lines.append(line)
            if " OK created " in line and f".{model} " in line:
                os.killpg(process.pid, signal.SIGKILL)
                break
            assert time.monotonic() < deadline, "".join(lines[-30:])
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "".join(lines[-30:])
    while True:  # until dbt, the runner's child, is gone too: it holds the warehouse's lock while it lives
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return lines
        assert time.monotonic() < deadline, "dbt outlived its SIGKILL"
        time.sleep(0.05)


def marts(warehouse: Path) -> dict:
    with connect(warehouse, read_only=True) as con:
        return {table: read(con, table) for table in MARTS}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    """The marts of the 8 sample batches landed and built once."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    warehouse = DuckDBWarehouse(folder / "warehouse.duckdb")
    land(warehouse, batch_files(SAMPLE_BATCHES))
    result = build(warehouse, folder / "target")
    assert result.returncode == 0, result.stdout[-3000:]
    return marts(warehouse)


def test_a_killed_build_is_reported_and_repaired_by_the_next_one(uninterrupted, tmp_path: Path):
    warehouse, target = DuckDBWarehouse(tmp_path / "warehouse.duckdb"), tmp_path / "target"
    marker = warehouse.unfinished_build_marker()
    paths = batch_files(SAMPLE_BATCHES)
    land(warehouse, paths[:5])
    first = build(warehouse, target)
    assert first.returncode == 0, first.stdout[-3000:]
    assert "did not finish" not in first.stdout and not marker.exists()

    land(warehouse, paths[5:])  # three new batches: iterations 5, 6 and 7
    build_killed_after(warehouse, target, "percentile_history")
    assert marker.exists() and json.loads(marker.read_text())["args"] == list(BUILD)
    # the marts disagree: percentile_history holds the new iterations, scores (built after it) does not
    assert query(warehouse, "select max(iteration) from percentile_history") == [(7,)]
    assert query(warehouse, "select max(updated_iteration) from scores") == [(4,)]

    repair = build(warehouse, target)
    assert repair.returncode == 0, repair.stdout[-3000:]
    reported = [line for line in repair.stdout.splitlines() if "did not finish" in line]
    assert len(reported) == 1 and reported[0].startswith("[dbt_runner] the previous build (dbt build --select"), (
        reported
    )
    assert "this build repairs it" in reported[0] and "again first" not in reported[0]
    assert not marker.exists()
    repaired = marts(warehouse)
    for table in MARTS:
        assert_same(uninterrupted[table], repaired[table], table)


def test_an_unfinished_build_of_other_models_is_run_again_first(uninterrupted, tmp_path: Path):
    """`make run` runs two builds; when the one left unfinished is not the one starting, it is run again first."""
    warehouse, target = DuckDBWarehouse(tmp_path / "warehouse.duckdb"), tmp_path / "target"
    land(warehouse, batch_files(SAMPLE_BATCHES))
    other = ["seed", "--select", "known_industries"]
    warehouse.unfinished_build_marker().write_text(json.dumps({"args": other, "started": "2026-01-01 00:00:00"}))
    repair = build(warehouse, target)
    assert repair.returncode == 0, repair.stdout[-3000:]
    assert (
        "[dbt_runner] the previous build (dbt seed --select known_industries, started 2026-01-01 "
        "00:00:00) did not finish, so the marts may disagree with each other: this build repairs it by running "
        "that build again first"
    ) in repair.stdout
    assert repair.stdout.count("Completed successfully") == 2  # that build, then this one
    assert not warehouse.unfinished_build_marker().exists()
    repaired = marts(warehouse)
    for table in MARTS:
        assert_same(uninterrupted[table], repaired[table], table)
    shutil.rmtree(target)
