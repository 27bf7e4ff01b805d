"""The engines dbt can target (DBT_TARGET): `duckdb` (default, the embedded file), `postgres` and `spark`.

`python -m ingestion.engines stop` stops the throwaway local Postgres the project may have started
(`make stop`); `... start` starts or reuses it and prints its libpq URL; `... status` says whether it runs.
"""

from __future__ import annotations

ENGINES = ("duckdb", "postgres", "spark")
