"""Shared fixtures: the real data beside the checkout, scratch warehouses, and dbt."""

from __future__ import annotations

import subprocess
from pathlib import Path

import duckdb
import pytest

from ingestion.dbt_runner import run_dbt
from ingestion.settings import PROJECT_ROOT

REAL_DATA = (PROJECT_ROOT.parent / "shared" / "data").resolve()
REAL_SCORE_BATCHES = REAL_DATA / "score_batches"


def require_real(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"real data missing: {path} (the shared data folder must sit beside the checkout)")
    return path


class Dbt:
    """dbt against one scratch warehouse, with its own target folder (so tests never share dbt's state)."""

    def __init__(self, duckdb_path: Path, target_path: Path):
        self.duckdb_path = duckdb_path
        self.target_path = target_path

    def __call__(self, *args: str, expect_success: bool = True) -> subprocess.CompletedProcess:
        return run_dbt(list(args), self.duckdb_path, self.target_path, check=expect_success)


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
