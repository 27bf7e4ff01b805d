"""The orchestrator's environment in a test, as `make orchestrate` would be started with it: the dbt runner and the
Python steps it starts read the same variables, so a test sets them rather than handing the definitions other
settings."""

from __future__ import annotations

import os
from pathlib import Path

from core.settings import Settings

# what build_definitions writes into os.environ for profiles.yml (Warehouse.dbt_env: the orchestrator's own process
# is its entry point) and for dagster-dbt: put back, with the rest, when the test ends
DEFINITIONS_ENV = (
    "DBT_TARGET",
    "DUCKDB_PATH",
    "DUCKDB_MEMORY_LIMIT",
    "SPARK_DIR",
    "SPARK_MASTER",
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "DBT_INDIRECT_SELECTION",
)


def orchestrator_env(env, folder: Path, data_dir: Path | None = None, **extra: str) -> Settings:
    """Set, through `env` (a pytest MonkeyPatch), the environment of an orchestrator working under `folder` on
    DATA_DIR `data_dir` (default `folder/data`, created), DuckDB unless `extra` says otherwise; its Settings."""
    for name in DEFINITIONS_ENV:  # monkeypatch notes each one's value now, to restore it at the end
        if name in os.environ:
            env.setenv(name, os.environ[name])
        else:
            env.setenv(name, "")
            env.delenv(name)
    data_dir = data_dir or folder / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, value in {
        "DATA_DIR": str(data_dir),
        "DUCKDB_PATH": str(folder / "warehouse.duckdb"),
        "ORCHESTRATOR_HOME": str(folder / "orchestrator"),
        "OUTPUT_DIR": str(folder / "output"),
        "DBT_TARGET_PATH": str(folder / "target"),
        "DBT_TARGET": "duckdb",
        **extra,
    }.items():
        env.setenv(name, value)
    return Settings.from_env()


def graph_shape(definitions) -> dict:
    """What an engine could change in the orchestrator's graph: every asset with its parents and whether it is
    partitioned, and every check, as comparable values."""
    graph = definitions.resolve_asset_graph()
    assets = {
        "/".join(key.path): (
            sorted("/".join(parent.path) for parent in graph.get(key).parent_keys),
            graph.get(key).is_partitioned,
        )
        for key in graph.get_all_asset_keys()
    }
    checks = sorted(f"{'/'.join(key.asset_key.path)}:{key.name}" for key in graph.asset_check_keys)
    return {"assets": assets, "checks": checks}
