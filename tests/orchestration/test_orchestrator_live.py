"""The orchestrator as `make orchestrate` starts it (python -m orchestration start: `dagster dev`, its daemon and
UI), on real data dropped into its watched folders: the sensor picks each score batch up by itself, runs it once
(even when it arrives twice), the marts follow and equal the independent recomputation, and a backfill queued from
the command line (`python -m orchestration backfill`) recomputes a range; a real document, dropped one file at a
time, is run once both are there, and served. The UI, opened in headless Chromium, shows the project's assets and
the finished runs. `python -m orchestration stop` stops everything."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from core.settings import PROJECT_ROOT
from orchestration.assets import NEW_BATCH_TAG
from tests.models.test_score_pipeline_real import TOLERANCE, reference
from tests.quality.test_data_docs_browser import BROWSERS, find_browser
from tests.support.data import REAL_DOCUMENT, REAL_SCORE_BATCHES, require_real, write_document_subset
from warehouse import DuckDBWarehouse

pytestmark = pytest.mark.slow
BATCHES = 3  # batches 0..2: the first iteration (a window needs 3 batches)
WAIT_SECONDS = 600
DOCUMENT_TEXTS = 60  # the memorandum's first texts: a real document that embeds in seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def orchestration(action: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "orchestration", action, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def orchestrator(tmp_path_factory):
    require_real(REAL_SCORE_BATCHES)
    folder = tmp_path_factory.mktemp("live")
    (folder / "data" / "score_batches").mkdir(parents=True)
    env = {
        **os.environ,
        "DATA_DIR": str(folder / "data"),
        "DUCKDB_PATH": str(folder / "warehouse.duckdb"),
        "OUTPUT_DIR": str(folder / "output"),
        "DBT_TARGET": "duckdb",
        "ORCHESTRATOR_HOME": str(folder / "orchestrator"),
        "ORCHESTRATOR_PORT": str(free_port()),
    }
    started = orchestration("start", env)
    try:
        yield {
            "env": env,
            "folder": folder,
            "log": started.stdout,
            "home": folder / "orchestrator",
            "asset_keys": asset_keys(env),
        }
    finally:
        stopped = orchestration("stop", env)
        assert "stopped" in stopped.stdout
        assert started_by(folder / "orchestrator") == []  # the UI, the daemon, the code server, their runs


def started_by(home: Path) -> list[int]:
    """The live processes whose environment names `home` as DAGSTER_HOME: what the orchestrator started."""
    marker = f"DAGSTER_HOME={home}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker in (proc / "environ").read_bytes().split(b"\0"):
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(proc.name))
        except OSError:
            continue
    return found


def asset_keys(env: dict) -> list[str]:
    """Every asset key of the orchestrator's graph as its UI writes them (`raw/score_batches`)."""
    listed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from orchestration.definitions import defs\n"
            "for key in defs().resolve_asset_graph().get_all_asset_keys(): print('/'.join(key.path))",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    return listed.stdout.splitlines()


def batch_runs(home: Path, batch: int) -> list:
    with DagsterInstance.from_config(str(home)) as instance:
        return instance.get_runs(filters=RunsFilter(tags={NEW_BATCH_TAG: str(batch)}))


def run_by_id(home: Path, run_id: str):
    with DagsterInstance.from_config(str(home)) as instance:
        return instance.get_run_by_id(run_id)


def run_stats(home: Path, run_id: str):
    with DagsterInstance.from_config(str(home)) as instance:
        return instance.get_run_stats(run_id)


def wait_for_success(home: Path, batch: int) -> object:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        runs = batch_runs(home, batch)
        if runs and runs[0].status == DagsterRunStatus.SUCCESS:
            return runs[0]
        assert not runs or runs[0].status not in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED), runs[0]
        time.sleep(2)
    pytest.fail(f"batch {batch}: no successful run within {WAIT_SECONDS} s")


def test_dropped_batches_are_picked_up_run_once_and_the_marts_follow_a_backfill_recomputes(orchestrator):
    home, watched = orchestrator["home"], orchestrator["folder"] / "data" / "score_batches"
    # a document's first file arrives with the batches: it waits for its other one (the document test below)
    pages, _ = write_document_subset(orchestrator["folder"] / "incoming", DOCUMENT_TEXTS)
    (orchestrator["folder"] / "data" / "documents").mkdir()
    shutil.copy(pages, orchestrator["folder"] / "data" / "documents" / pages.name)
    dropped = {}
    for batch in range(BATCHES):
        shutil.copy(REAL_SCORE_BATCHES / f"batch_{batch}.json", watched / f"batch_{batch}.json")
        dropped[batch] = time.time()
    shutil.copy(REAL_SCORE_BATCHES / "batch_1.json", watched / "batch_1.json")  # arrives twice, while runs go
    for batch in range(BATCHES):
        run = wait_for_success(home, batch)
        stats = run_stats(home, run.run_id)
        print(
            f"batch {batch}: run started {stats.start_time - dropped[batch]:.1f} s after the drop, "
            f"succeeded {stats.end_time - dropped[batch]:.1f} s after it"
        )

    # a backfill from the command line: one queued run re-running batches 1..2 really recomputes them
    warehouse = DuckDBWarehouse(Path(orchestrator["env"]["DUCKDB_PATH"]))
    with warehouse.open() as con:  # the orchestrator is idle: nothing else writes now
        con.execute("update percentile_history set percentile = -1")
    queued = orchestration("backfill", orchestrator["env"], "1", "2").stdout
    run_id = queued.split(" run ")[1].split()[0]
    deadline = time.monotonic() + WAIT_SECONDS
    while (run := run_by_id(home, run_id)) is None or not run.is_finished:
        assert time.monotonic() < deadline, f"the backfill {run_id} did not finish within {WAIT_SECONDS} s"
        time.sleep(2)
    assert run.status == DagsterRunStatus.SUCCESS, run
    stats = run_stats(home, run_id)
    print(f"backfill of batches 1..2 from the command line: one run of {stats.end_time - stats.start_time:.1f} s")
    # the sensor ticked (every 10 s) all along: no batch was asked for twice
    assert [len(batch_runs(home, batch)) for batch in range(BATCHES)] == [1] * BATCHES

    _, _, history, _ = reference()
    with warehouse.open(read_only=True) as con:
        rows = con.execute("select iteration, id, percentile from percentile_history").fetchall()
    assert {iteration for iteration, _, _ in rows} == {2}
    assert len(rows) == sum(1 for (iteration, _) in history if iteration == 2)
    for iteration, asset_id, percentile in rows:
        assert abs(percentile - history[(iteration, asset_id)][3]) <= TOLERANCE


def sensor_runs(home: Path, sensor: str) -> list:
    with DagsterInstance.from_config(str(home)) as instance:
        return instance.get_runs(filters=RunsFilter(tags={"dagster/sensor_name": sensor}))


def test_a_dropped_document_is_picked_up_and_served(orchestrator):
    """A real document (the memorandum's first texts) dropped one file at a time, on a warehouse that has no corpus
    yet: one run, once both files are there, lands it, chunks and embeds it, and publishes it."""
    home, env = orchestrator["home"], orchestrator["env"]
    texts = orchestrator["folder"] / "incoming" / f"texts_{REAL_DOCUMENT}.json"
    # its pages file has been there since the batches arrived, minutes of sensor ticks ago: alone, it ran nothing
    assert (orchestrator["folder"] / "data" / "documents" / f"pages_{REAL_DOCUMENT}.csv").exists()
    assert sensor_runs(home, "documents_changed") == []
    shutil.copy(texts, orchestrator["folder"] / "data" / "documents" / texts.name)
    dropped = time.time()
    deadline = dropped + WAIT_SECONDS
    while not (runs := sensor_runs(home, "documents_changed")) or runs[0].status != DagsterRunStatus.SUCCESS:
        assert not runs or runs[0].status not in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED), runs[0]
        assert time.time() < deadline, f"no successful document run within {WAIT_SECONDS} s"
        time.sleep(2)
    stats = run_stats(home, runs[0].run_id)
    print(
        f"document: run started {stats.start_time - dropped:.1f} s after its second file, "
        f"succeeded {stats.end_time - dropped:.1f} s after it"
    )
    time.sleep(12)  # one more sensor tick (every 10 s): the document is asked for once
    assert len(sensor_runs(home, "documents_changed")) == 1

    with DuckDBWarehouse(Path(env["DUCKDB_PATH"])).open(read_only=True) as con:
        chunked = con.execute(
            "select distinct source_position from document_chunks where doc_id = ?", [REAL_DOCUMENT]
        ).fetchall()
        rejected = con.execute(
            "select distinct source_position from document_rejects where doc_id = ?", [REAL_DOCUMENT]
        ).fetchall()
        chunks = con.execute("select count(*) from document_chunks where doc_id = ?", [REAL_DOCUMENT]).fetchone()
    assert {position for (position,) in chunked + rejected} == set(range(DOCUMENT_TEXTS))
    published = Path(env["DUCKDB_PATH"]).with_name("warehouse.published.duckdb")
    with DuckDBWarehouse(published).open(read_only=True) as con:
        served = con.execute(
            "select count(*), min(len(embedding)) from search_chunks where doc_id = ?", [REAL_DOCUMENT]
        ).fetchone()
    assert served == (chunks[0], 384)


def test_the_ui_shows_the_assets_and_the_finished_runs_in_a_browser(orchestrator, tmp_path):
    browser = find_browser()
    if browser is None:
        pytest.skip(f"no Chromium found on PATH (looked for {', '.join(BROWSERS)})")
    port = orchestrator["env"]["ORCHESTRATOR_PORT"]

    def page(path: str, *output: str) -> str:
        shown = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--window-size=1600,5000",  # the asset catalog renders only the rows in view: all of them
                "--virtual-time-budget=30000",
                *(output or ["--dump-dom"]),
                f"http://127.0.0.1:{port}{path}",
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert shown.returncode == 0, shown.stderr[-2000:]
        return shown.stdout

    catalog = page("/assets")
    for asset in orchestrator["asset_keys"]:  # every asset of the graph, the landers and Python steps included
        assert asset in catalog, asset
    runs = page("/runs")
    assert runs.count(">Success<") >= BATCHES
    screenshot = tmp_path / "lineage.png"
    page("/asset-groups", f"--screenshot={screenshot}")
    assert screenshot.stat().st_size > 10_000
