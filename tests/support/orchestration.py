"""The orchestrator's environment in a test, as `make orchestrate` would be started with it: the dbt runner and the
Python steps it starts read the same variables, so a test sets them rather than handing the definitions other
settings."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings


def orchestrator_env(env, folder: Path, data_dir: Path | None = None, **extra: str) -> Settings:
    """Set, through `env` (a pytest MonkeyPatch), the environment of an orchestrator working under `folder` on
    DATA_DIR `data_dir` (default `folder/data`, created), DuckDB unless `extra` says otherwise; its Settings."""
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
