"""Spark rejects exactly the texts DuckDB rejects, for the same reasons (tests/models/test_blank_text.py)."""

from __future__ import annotations

from tests.support.blank_text import land_and_build_rejects, text_rejects
from warehouse import SparkWarehouse


def test_spark_rejects_the_same_texts_for_the_same_reasons(injected, blank_text_duckdb_run, tmp_path):
    warehouse = SparkWarehouse(tmp_path / "spark")
    land_and_build_rejects(warehouse, injected[0], tmp_path)
    assert text_rejects(warehouse) == text_rejects(blank_text_duckdb_run[0])
