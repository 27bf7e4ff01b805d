"""An external server (what RDS/Aurora gives: a password, a non-superuser owning its database, pgvector created by
the administrator) is configuration only: PG* and DBT_TARGET, the project's local server never started; a wrong
password or a missing vector extension gives a clear error naming the server, never the password."""

from __future__ import annotations

import dataclasses
import shutil

import psycopg2
import pytest

from core.settings import PROJECT_ROOT
from tests.support.postgres import (
    BUILD,
    assert_marts_equal,
    clean_env,
    run,
    scalar,
)
from tests.support.score_marts import MARTS
from tests.support.warehouses import throwaway_postgres
from warehouse.local_postgres import STATE_DIR, LocalPostgres

BATCHES, ROWS = 20, 8000  # the real score batches (checked against the files in test_killed_landing...)


APP_PASSWORD = "Managed-Db-pw-7c41e9"  # the throwaway server's; a test value, never a real secret
WRONG_PASSWORD = "Not-the-pw-52b0aa"


@pytest.fixture(scope="module")
def managed():
    """A second server set up as RDS/Aurora hands one out: password (scram-sha-256) logins over TCP; the user `app`,
    no superuser, owning the database `app`, where the administrator created pgvector; and `bare`, a database of
    `app`'s without pgvector. Yields `app`'s Connection (password included), as PG* would give it."""
    for server in throwaway_postgres("postgres-test-reliability-managed"):
        admin = psycopg2.connect(host=server.host, port=server.port, user=server.user, dbname="postgres")
        admin.autocommit = True
        try:
            with admin.cursor() as cursor:
                cursor.execute("create role app login nosuperuser nocreatedb nocreaterole password %s", [APP_PASSWORD])
                cursor.execute("create database app owner app")
                cursor.execute("create database bare owner app")
            with psycopg2.connect(dataclasses.replace(server, dbname="app").dsn()) as app_db:
                app_db.cursor().execute("create extension vector")
            data_dir = PROJECT_ROOT / ".engines" / "postgres-test-reliability-managed" / "data"
            # the administrator (the fixture) keeps trust; every other login needs its password
            (data_dir / "pg_hba.conf").write_text(
                "host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
            )
            with admin.cursor() as cursor:
                cursor.execute("select pg_reload_conf()")
        finally:
            admin.close()
        yield dataclasses.replace(server, user="app", password=APP_PASSWORD, dbname="app")


def project_server_state() -> tuple:
    """The project's own local server (.engines/postgres): running?, and its state file's mtime (None if absent)."""
    server = LocalPostgres(STATE_DIR)
    return server.running(), server.state_file.stat().st_mtime_ns if server.state_file.exists() else None


def test_an_external_server_is_configuration_only(managed, score_data, uninterrupted_marts, tmp_path):
    """PG* and DBT_TARGET=postgres, nothing else: landing and the score pipeline run as the non-superuser, into its
    database, with the same marts as on the project's server; the project's local server is never started."""
    before = project_server_state()
    settings = {"DBT_TARGET": "postgres", **managed.env()}
    land = run("landing.land", clean_env(DATA_DIR=str(score_data[0]), **settings))
    assert land.returncode == 0, land.stderr
    assert f"{BATCHES} batch files, {BATCHES} newly landed ({ROWS} rows)" in land.stdout
    build = run(
        "pipeline.dbt_runner",
        clean_env(**settings, DBT_TARGET_PATH=str(tmp_path / "target"), DBT_LOG_PATH=str(tmp_path / "logs")),
        *BUILD,
    )
    assert build.returncode == 0, build.stdout[-3000:]

    assert_marts_equal(managed, uninterrupted_marts)
    con = psycopg2.connect(managed.dsn())
    try:
        with con.cursor() as cursor:
            assert scalar(cursor, "select rolsuper from pg_roles where rolname = current_user") is False
            assert (
                scalar(
                    cursor,
                    "select count(*) from pg_tables where schemaname in ('raw', 'public') and tableowner = 'app'",
                )
                >= len(MARTS) + 2
            )
    finally:
        con.close()
    assert project_server_state() == before
    if not before[0]:
        assert not LocalPostgres(STATE_DIR).running()


def test_a_wrong_password_is_a_clear_error_naming_the_server_not_the_password(managed, score_data, tmp_path):
    wrong = dataclasses.replace(managed, password=WRONG_PASSWORD)
    server = f"postgresql://app@127.0.0.1:{managed.port}/app"
    before = project_server_state()
    outputs = {}
    for entry_point in ("landing.land", "pipeline.publish", "pipeline.dbt_runner"):
        env = clean_env(
            DBT_TARGET="postgres",
            DATA_DIR=str(score_data[0]),
            PUBLISHED_PATH=str(tmp_path / "pub.duckdb"),
            DBT_TARGET_PATH=str(tmp_path / "target"),
            DBT_LOG_PATH=str(tmp_path / "logs"),
            **wrong.env(),
        )
        result = run(entry_point, env, *(BUILD if entry_point == "pipeline.dbt_runner" else ()))
        outputs[entry_point] = result
        assert result.returncode != 0, entry_point
        text = result.stdout + result.stderr
        assert WRONG_PASSWORD not in text and APP_PASSWORD not in text, entry_point
        assert 'password authentication failed for user "app"' in text, (entry_point, text[-2000:])
        assert f'"127.0.0.1", port {managed.port}' in text, entry_point
    for entry_point, name in (("landing.land", "land"), ("pipeline.publish", "publish")):
        stderr = outputs[entry_point].stderr
        assert stderr.startswith(f"[{name}] error: cannot connect to the Postgres warehouse {server}: "), stderr
        assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert not (tmp_path / "pub.duckdb").exists()
    assert project_server_state() == before


def test_a_database_without_pgvector_says_what_to_ask_the_administrator(managed, tmp_path):
    """On `bare` (no vector extension, a user who may not create it), the first model with vectors fails with an
    error saying so, instead of Postgres's 'permission denied to create extension'."""
    bare = dataclasses.replace(managed, dbname="bare")
    env = clean_env(
        DBT_TARGET="postgres",
        DBT_TARGET_PATH=str(tmp_path / "target"),
        DBT_LOG_PATH=str(tmp_path / "logs"),
        **bare.env(),
    )
    build = run("pipeline.dbt_runner", env, "run", "--select", "search_chunks")
    assert build.returncode != 0
    text = build.stdout + build.stderr
    assert (
        'the database "bare" has no vector extension (pgvector), which vector search needs, and user "app" '
        "cannot create it"
    ) in text, text[-3000:]
    assert 'run "create extension vector;" in that database' in text
    assert APP_PASSWORD not in text


def test_make_stop_stops_every_server_the_project_started():
    """`make stop` (python -m warehouse stop -> stop_all) stops each server with state under the engines
    folder, e.g. ones an interrupted test run left behind, and keeps their data."""
    from warehouse.local_postgres import stop_all

    engines = PROJECT_ROOT / ".engines" / "stop-test"
    servers = [LocalPostgres(engines / name) for name in ("first", "second")]
    try:
        for server in servers:
            server.start()
        assert all(server.running() for server in servers)
        assert stop_all(engines) == ["first", "second"]
        assert not any(server.running() for server in servers)
        assert all((server.data_dir / "PG_VERSION").exists() for server in servers)
        assert stop_all(engines) == []
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(engines, ignore_errors=True)
