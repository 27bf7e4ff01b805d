"""DUCKDB_MEMORY_LIMIT: read once into the settings, checked there, and the limit DuckDB really has in dbt's builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.settings import Settings
from pipeline.dbt_runner import run_dbt
from warehouse import DuckDBWarehouse, target_warehouse


def test_the_setting_reaches_the_warehouse_and_a_typo_fails_in_one_line(monkeypatch):
    monkeypatch.delenv("DBT_TARGET", raising=False)
    monkeypatch.delenv("DUCKDB_MEMORY_LIMIT", raising=False)
    assert target_warehouse(Settings.from_env()).dbt_env()["DUCKDB_MEMORY_LIMIT"] == "3GB"
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "512MiB")
    assert target_warehouse(Settings.from_env()).dbt_env()["DUCKDB_MEMORY_LIMIT"] == "512MiB"
    for bad in ("lots", "3 G", "-1GB", "GB"):
        monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", bad)
        with pytest.raises(ValueError, match=rf"DUCKDB_MEMORY_LIMIT='{bad}': expected a size such as 3GB"):
            Settings.from_env()


def test_dbt_builds_under_the_limit_the_warehouse_names(tmp_path: Path):
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb", memory_limit="256MiB")
    shown = run_dbt(
        warehouse,
        ["show", "--inline", "select current_setting('memory_limit') as memory_limit", "--output", "json"],
        target_path=tmp_path / "target",
    ).stdout
    rows = json.loads(shown[shown.index("{") : shown.rindex("}") + 1])["show"]
    assert rows == [{"memory_limit": "256.0 MiB"}]
