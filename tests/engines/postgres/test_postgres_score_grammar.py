"""Postgres gives the numeric grammar's verdicts and builds its extremes as DuckDB does
(tests/models/test_score_grammar.py)."""

from __future__ import annotations

import pytest

from tests.support.score_grammar import assert_marts_equal, assert_the_grammar, land_and_build
from tests.support.warehouses import throwaway_postgres
from warehouse import PostgresWarehouse


@pytest.fixture(scope="module")
def postgres():
    yield from throwaway_postgres("postgres-score-grammar")


def test_postgres_follows_the_grammar_and_builds_the_extremes(grammar_duckdb_run, grammar_data, postgres, tmp_path):
    warehouse = PostgresWarehouse(postgres)
    land_and_build(warehouse, tmp_path, grammar_data)
    assert_the_grammar(warehouse)
    assert_marts_equal(grammar_duckdb_run, warehouse)
