"""DBT_TARGET=postgres survives being killed: a landing killed (SIGKILL) at several moments leaves only whole files,
and the rerun lands the rest; a dbt build killed mid-way is finished by the next build, whose marts equal an
uninterrupted build's (the real score batches)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import psycopg2
import pytest

from core.settings import PROJECT_ROOT
from landing.land import ensure_raw_tables
from landing.score_batches import batch_files, land_score_batch
from tests.support.postgres import (
    BUILD,
    FILE_COLUMNS,
    SCORE_COLUMNS,
    assert_marts_equal,
    clean_env,
    command,
    dbt_env,
    fresh_database,
    run,
    scalar,
)
from warehouse.postgres import WRITER_LOCK, connect_postgres

BATCHES, ROWS = 20, 8000  # the real score batches (checked against the files in test_killed_landing...)


def landed_state(server) -> tuple[dict[int, list], list[tuple]]:
    """What Postgres holds (read with psycopg2, committed data only): landed files and score rows, as score_data."""
    con = psycopg2.connect(server.dsn())
    try:
        with con.cursor() as cursor:
            cursor.execute("select to_regclass('raw.landed_files') is not null")
            if not cursor.fetchone()[0]:
                return {}, []
            cursor.execute(f"select {FILE_COLUMNS} from raw.landed_files where source = 'score_batches'")
            files = {batch: rest for batch, *rest in cursor.fetchall()}
            cursor.execute(f"select {SCORE_COLUMNS} from raw.score_batches order by batch, record_index")
            return files, cursor.fetchall()
    finally:
        con.close()


def kill_when(process: subprocess.Popen, server, ready, seconds: float = 180) -> None:
    """SIGKILL `process` (its whole process group) as soon as `ready(cursor)` holds (a psycopg2 cursor on `server`,
    polled every 2 ms)."""
    watcher = psycopg2.connect(server.dsn())
    watcher.autocommit = True
    deadline = time.monotonic() + seconds
    try:
        with watcher.cursor() as cursor:
            while process.poll() is None and time.monotonic() < deadline:
                if ready(cursor):
                    os.killpg(process.pid, signal.SIGKILL)
                    break
                time.sleep(0.002)
    finally:
        watcher.close()
    out, err = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, (
        f"not killed (exit {process.returncode}):\n{out[-2000:]}\n{err[-2000:]}"
    )


def landed_at_least(n: int):
    def ready(cursor) -> bool:
        if n == 0:  # right at start: the loader holds the writer lock, nothing else done yet
            return (
                scalar(
                    cursor,
                    f"select count(*) from pg_locks where locktype = 'advisory' and objid = {WRITER_LOCK} and granted",
                )
                > 0
            )
        return (
            scalar(cursor, "select to_regclass('raw.landed_files') is not null")
            and scalar(cursor, "select count(*) from raw.landed_files") >= n
        )

    return ready


def inside_a_file_after(n: int):
    """n files landed and the loader inside the transaction of the next one (a session of it in a transaction)."""

    def ready(cursor) -> bool:
        return (
            landed_at_least(n)(cursor)
            and scalar(
                cursor,
                (
                    "select count(*) from pg_stat_activity where datname = current_database() "
                    "and pid <> pg_backend_pid() and backend_type = 'client backend' and xact_start is not null "
                    "and query not like '%pg_advisory_lock%'"
                ),
            )
            > 0
        )

    return ready


KILL_MOMENTS = {  # moment -> (when to kill, files surely landed by then)
    "at-start": (landed_at_least(0), 0),
    "after-1-file": (landed_at_least(1), 1),
    "inside-file-4": (inside_a_file_after(3), 3),
    "after-5-files": (landed_at_least(5), 5),
    "after-12-files": (landed_at_least(12), 12),
}


def test_the_real_batches_are_20_files_of_8000_rows(score_data):
    data_dir, files, rows = score_data
    counts = [len(json.loads(path.read_text())) for path in sorted((data_dir / "score_batches").iterdir())]
    assert (len(counts), sum(counts)) == (BATCHES, ROWS) == (len(files), len(rows))


@pytest.mark.parametrize("moment", list(KILL_MOMENTS))
def test_a_killed_landing_leaves_whole_files_and_the_rerun_lands_the_rest(reliability_postgres, score_data, moment):
    data_dir, clean_files, clean_rows = score_data
    ready, landed_files = KILL_MOMENTS[moment]
    server = fresh_database(reliability_postgres, "killed_landing")
    env = clean_env(DATA_DIR=str(data_dir), DBT_TARGET="postgres", **server.env())
    loader = subprocess.Popen(
        command("landing.land"),
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    kill_when(loader, server, ready)

    files, rows = landed_state(server)
    landed = len(files)
    assert landed_files <= landed < BATCHES
    assert sorted(files) == list(range(landed))  # in order, and each file whole: its rows, nothing else
    assert files == {batch: clean_files[batch] for batch in range(landed)}
    assert rows == [row for row in clean_rows if row[0] < landed]

    rerun = run("landing.land", env)
    assert rerun.returncode == 0, rerun.stderr
    new_rows = sum(count for batch, (_, _, count) in clean_files.items() if batch >= landed)
    assert (
        f"[land] score_batches: {BATCHES} batch files, {BATCHES - landed} newly landed ({new_rows} rows), "
        f"{landed} already landed"
    ) in rerun.stdout
    assert landed_state(server) == (clean_files, clean_rows)


def running_node(name: str):
    """dbt (its query comments name the node) has sent a statement of model `name`."""

    def ready(cursor) -> bool:
        return (
            scalar(
                cursor,
                "select count(*) from pg_stat_activity where datname = current_database() "
                f'and query like \'%"node_id": "model.ml_platform.{name}"%\'',
            )
            > 0
        )

    return ready


def scores_rows(server) -> int | None:
    """Rows of the last mart, `scores`; None before it exists."""
    con = psycopg2.connect(server.dsn())
    try:
        with con.cursor() as cursor:
            if scalar(cursor, "select to_regclass('public.scores')") is None:
                return None
            return scalar(cursor, "select count(*) from public.scores")
    finally:
        con.close()


def build_killed_in(server, env: dict[str, str], node: str) -> None:
    """`python -m pipeline.dbt_runner build` of the score pipeline, SIGKILLed (with its dbt) once it runs `node`."""
    build = subprocess.Popen(
        command("pipeline.dbt_runner", *BUILD),
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    kill_when(build, server, running_node(node))


def test_killed_dbt_builds_are_finished_by_the_next_one(
    reliability_postgres, score_data, uninterrupted_marts, tmp_path
):
    """Two kills on the way to the 20 batches: the first build (10 batches landed) killed in the second incremental
    model; after 10 more batches, the incremental build killed in a mart (the intermediates already holding the new
    windows). Each time the next build completes, and the marts end equal to the uninterrupted build's, exactly."""
    data_dir = score_data[0]
    server = fresh_database(reliability_postgres, "dbt_killed")
    env = dbt_env(server, tmp_path)
    with connect_postgres(server.dsn()) as con:  # the first 10 batches, from the same files as the full landing
        ensure_raw_tables(con)
        for path in batch_files(data_dir / "score_batches")[:10]:
            land_score_batch(con, path)

    build_killed_in(server, env, "int_score_windows")
    assert scores_rows(server) is None  # killed before the last mart
    first = run("pipeline.dbt_runner", env, *BUILD)
    assert first.returncode == 0, first.stdout[-3000:]

    assert run("landing.land", clean_env(DATA_DIR=str(data_dir), DBT_TARGET="postgres", **server.env())).returncode == 0
    before = scores_rows(server)
    build_killed_in(server, env, "percentile_history")
    assert scores_rows(server) == before > 0  # `scores` (after percentile_history) as it was

    rebuild = run("pipeline.dbt_runner", env, *BUILD)
    assert rebuild.returncode == 0, rebuild.stdout[-3000:]
    assert_marts_equal(server, uninterrupted_marts)
    con = psycopg2.connect(server.dsn())
    try:
        with con.cursor() as cursor:  # no relation a killed dbt left behind (__dbt_tmp, __dbt_backup)
            cursor.execute("select relname from pg_class where relname like '%\\_\\_dbt\\_%'")
            assert cursor.fetchall() == []
    finally:
        con.close()
