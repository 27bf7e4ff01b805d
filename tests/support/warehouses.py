"""Scratch warehouses and the commands a user runs on them: dbt, make, a throwaway Postgres."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import duckdb

from core.settings import PROJECT_ROOT
from pipeline.dbt_runner import run_dbt
from warehouse import DuckDBWarehouse, Warehouse


def throwaway_postgres(name: str):
    """A local Postgres of its own for one test module, under .engines/<name>/ (never the developer's server):
    started empty, yielded as its PostgresServer, stopped and removed afterwards. Use as a module fixture:
    `yield from throwaway_postgres("postgres-test-x")` in a module-scoped fixture."""

    from warehouse.local_postgres import LocalPostgres

    server = LocalPostgres(PROJECT_ROOT / ".engines" / name)
    server.stop()  # a leftover of an interrupted run
    if server.state_dir.exists():
        shutil.rmtree(server.state_dir)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(server.state_dir, ignore_errors=True)


def make(goal: str, env: dict[str, str]) -> str:
    """`make <goal>` in the checkout, as a user runs it; its output (the test fails with its tail if it fails)."""
    result = subprocess.run(
        ["make", "--no-print-directory", goal], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, f"make {goal} failed:\n{result.stdout[-4000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def make_run_and_export(folder: Path, data: Path, target: str, engine_env: dict[str, str]) -> dict:
    """`make run` then `make export` on DBT_TARGET=`target` over DATA_DIR `data`, every output under `folder`."""
    env = {
        **os.environ,
        "DATA_DIR": str(data),
        "DBT_TARGET": target,
        "DUCKDB_PATH": str(folder / "warehouse.duckdb"),
        "OUTPUT_DIR": str(folder / "output"),
        "PUBLISHED_PATH": str(folder / "published.duckdb"),
        "DBT_TARGET_PATH": str(folder / "target"),
        "DBT_LOG_PATH": str(folder / "logs"),
        **engine_env,
    }
    log = make("run", env) + make("export", env)
    return {"output": folder / "output", "log": log, "data": data, "folder": folder, "env": env}


class Dbt:
    """dbt against one scratch warehouse, with its own target folder (so tests never share dbt's state)."""

    def __init__(self, warehouse: Warehouse, target_path: Path):
        self.warehouse = warehouse
        self.target_path = target_path

    def __call__(self, *args: str, expect_success: bool = True) -> subprocess.CompletedProcess:
        return run_dbt(self.warehouse, list(args), self.target_path, check=expect_success)


def raw_warehouse(folder: Path, fill=lambda con: None) -> Dbt:
    """dbt on a scratch warehouse `folder/warehouse.duckdb` holding every raw table, `fill(con)` landed into them."""
    from landing.land import ensure_raw_tables

    warehouse = DuckDBWarehouse(folder / "warehouse.duckdb")
    with warehouse.open() as con:
        ensure_raw_tables(con)
        fill(con)
    return Dbt(warehouse, folder / "target")


def query(warehouse: DuckDBWarehouse | Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


class SearchWarehouse:
    """A built and published warehouse with the sample document and a small real corpus (real model)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.data_dir = folder / "data"
        self.warehouse = DuckDBWarehouse(folder / "warehouse.duckdb")
        self.published_path = folder / "warehouse.published.duckdb"
        self.dbt = Dbt(self.warehouse, folder / "target")

    def judged(self) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
        """The corpus's queries (id -> text) and graded judgments (query id -> passage id -> grade)."""
        from search.evaluate import judged_corpora

        return judged_corpora(self.warehouse)["msmarco-mini"]


def snapshot(warehouse: DuckDBWarehouse) -> dict[str, list[tuple]]:
    """Everything in the warehouse: every table's rows, so 'unchanged' can be asserted exactly."""
    if not warehouse.path.exists():
        return {}
    tables = query(warehouse, "select table_schema, table_name from information_schema.tables order by all")
    return {f"{s}.{t}": sorted(query(warehouse, f'select * from "{s}"."{t}"'), key=repr) for s, t in tables}
