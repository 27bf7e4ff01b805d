"""dbt-duckdb plugin of the `postgres_python` output: loads DuckDB's postgres extension from its wheel.

dbt-postgres runs no Python models. With DBT_TARGET=postgres, pipeline.dbt_runner runs them (and only them)
through dbt-duckdb with the Postgres database ATTACHed under its own name as the default catalog: the same
model files, the same `dbt.ref()`, the same incremental logic, their tables written into Postgres. The profile's
own `extensions:` would INSTALL from the network; this plugin LOADs the packaged file instead, before dbt-duckdb
runs the profile's ATTACH.
"""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from warehouse.postgres import postgres_extension


class Plugin(BasePlugin):
    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        conn.execute(f"load '{postgres_extension()}'")
