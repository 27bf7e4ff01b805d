"""The orchestrator's definitions on DBT_TARGET=spark: the graph read from the Spark manifest (dbt parsed inside the
project's Spark launcher, as every dbt call on Spark) is DuckDB's, asset for asset, parent for parent, check for
check: one graph whatever the engine, the engine's differences staying in the runner and the dispatch macros."""

from __future__ import annotations

import pytest

from orchestration.definitions import build_definitions
from tests.support.orchestration import graph_shape, orchestrator_env

pytestmark = pytest.mark.spark


def test_the_spark_graph_is_the_duckdb_graph(tmp_path, monkeypatch):
    duckdb = build_definitions(orchestrator_env(monkeypatch, tmp_path / "duckdb"))
    spark = build_definitions(
        orchestrator_env(monkeypatch, tmp_path / "spark", DBT_TARGET="spark", SPARK_DIR=str(tmp_path / "spark" / "sp"))
    )
    expected, shape = graph_shape(duckdb), graph_shape(spark)
    assert len(shape["assets"]) >= 40 and len(shape["checks"]) >= 150
    assert shape == expected
