"""Spark gives the numeric grammar's verdicts and builds its extremes as DuckDB does
(tests/models/test_score_grammar.py)."""

from __future__ import annotations

from tests.support.score_grammar import assert_marts_equal, assert_the_grammar, land_and_build
from warehouse import SparkWarehouse


def test_spark_follows_the_grammar_and_builds_the_extremes(grammar_duckdb_run, grammar_data, tmp_path):
    warehouse = SparkWarehouse(tmp_path / "spark")
    land_and_build(warehouse, tmp_path, grammar_data)
    assert_the_grammar(warehouse)
    assert_marts_equal(grammar_duckdb_run, warehouse)
