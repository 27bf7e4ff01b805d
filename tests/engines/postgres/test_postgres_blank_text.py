"""Postgres rejects exactly the texts DuckDB rejects, for the same reasons (tests/models/test_blank_text.py)."""

from __future__ import annotations

import pytest

from tests.support.blank_text import land_and_build_rejects, text_rejects
from tests.support.warehouses import throwaway_postgres
from warehouse import PostgresWarehouse


@pytest.fixture(scope="module")
def postgres():
    yield from throwaway_postgres("postgres-blank-text")


def test_postgres_rejects_the_same_texts_for_the_same_reasons(injected, blank_text_duckdb_run, postgres, tmp_path):
    warehouse = PostgresWarehouse(postgres)
    land_and_build_rejects(warehouse, injected[0], tmp_path)
    assert text_rejects(warehouse) == text_rejects(blank_text_duckdb_run[0])
