"""Postgres as users run it: commands in a clean shell environment, fresh databases, the score marts read back."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import psycopg2

from benchmarks.scores.dbt_timing import SCORE_PIPELINE
from core.settings import PROJECT_ROOT
from tests.support.score_marts import MARTS, read
from warehouse.postgres import connect_postgres


def fresh_database(server, name: str):
    """An empty database `name` on `server` (dropped first if a previous run left it); its Connection."""
    admin = psycopg2.connect(host=server.host, port=server.port, user=server.user, dbname="postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'drop database if exists "{name}" with (force)')
            cursor.execute(f'create database "{name}"')
    finally:
        admin.close()
    return dataclasses.replace(server, dbname=name)


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any warehouse setting (PG*, DBT_TARGET, DUCKDB_PATH, DATA_DIR), plus
    `settings`: what a user's shell would hold to run one command."""
    drop = {"DBT_TARGET", "DUCKDB_PATH", "DATA_DIR", "PUBLISHED_PATH"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k not in drop}
    return {**env, "PYTHONPATH": str(PROJECT_ROOT), "HF_HUB_OFFLINE": "1", **settings}


def command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def run(module: str, env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        command(module, *args), cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def raw_contents(con) -> dict[str, list[tuple]]:
    """Every table of the raw schema with its rows (loaded_at aside: when, not what), in a stable order."""
    tables = [
        t
        for (t,) in con.execute(  # tables, or views (Spark's Parquet files read through DuckDB)
            "select table_name from information_schema.tables where table_catalog = current_database() "
            "and table_schema = 'raw' order by table_name"
        ).fetchall()
    ]
    return {t: sorted(con.execute(f"select * exclude (loaded_at) from raw.{t}").fetchall(), key=repr) for t in tables}


SCORE_COLUMNS = "batch, record_index, id, score, score_json_type, industry, source_file, content_hash"


FILE_COLUMNS = "cast(landing_key as integer), source_file, content_hash, row_count"


def dbt_env(server, folder: Path) -> dict[str, str]:
    return clean_env(
        DBT_TARGET="postgres",
        DUCKDB_PATH=str(folder / "unused.duckdb"),
        DBT_TARGET_PATH=str(folder / "target"),
        DBT_LOG_PATH=str(folder / "logs"),
        **server.env(),
    )


BUILD = ("build", "--select", SCORE_PIPELINE)


def marts(server) -> dict:
    with connect_postgres(server.dsn(), read_only=True) as con:
        return {table: read(con, table) for table in MARTS}


def assert_marts_equal(server, reference: dict) -> None:
    """The score marts on `server` exactly equal `reference` (marts() of another build)."""
    ours = marts(server)
    for table, expected in reference.items():
        pd.testing.assert_frame_equal(ours[table], expected, check_exact=True, obj=table)


def scalar(cursor, sql: str):
    cursor.execute(sql)
    return cursor.fetchone()[0]
