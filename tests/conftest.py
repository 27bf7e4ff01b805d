"""Shared fixtures: the real data beside the checkout, scratch warehouses, and dbt run in-process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ingestion.settings import PROJECT_ROOT

REAL_DATA = (PROJECT_ROOT.parent / "shared" / "data").resolve()
REAL_SCORE_BATCHES = REAL_DATA / "score_batches"


def require_real(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"real data missing: {path} (the shared data folder must sit beside the checkout)")
    return path


class Dbt:
    """Runs dbt against one DuckDB file, in a subprocess as `make` does (dbt-duckdb keeps its connection open
    for the life of a process, which would lock the file against the test's own reads)."""

    def __init__(self, duckdb_path: Path, target_path: Path):
        self.duckdb_path = duckdb_path
        self.target_path = target_path

    def __call__(self, *args: str, expect_success: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "DUCKDB_PATH": str(self.duckdb_path), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        result = subprocess.run(
            [str(Path(sys.executable).parent / "dbt"), *args,
             "--project-dir", str(PROJECT_ROOT), "--profiles-dir", str(PROJECT_ROOT),
             "--target-path", str(self.target_path), "--log-path", str(self.target_path / "logs")],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
        )
        if expect_success and result.returncode != 0:
            raise AssertionError(f"dbt {' '.join(args)} failed:\n{result.stdout[-5000:]}\n{result.stderr[-2000:]}")
        return result


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


@pytest.fixture
def dbt(warehouse: Path, tmp_path: Path) -> Dbt:
    return Dbt(warehouse, tmp_path / "dbt_target")


def query(duckdb_path: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
