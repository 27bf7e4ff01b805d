"""A real cluster is configuration only: a Spark standalone master and worker started on this machine (two JVMs of
their own, warehouse.spark_cluster), SPARK_MASTER pointing at it, and the score marts built through it equal
DuckDB's; the embedding job's tasks run in the worker's executor. `make stop` stops the cluster."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.settings import PROJECT_ROOT
from landing.land import land_all
from pipeline.dbt_runner import run_dbt
from tests.support.score_marts import MARTS, assert_same, read
from warehouse.spark import SparkWarehouse
from warehouse.spark_cluster import LocalSparkCluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    cluster = LocalSparkCluster(PROJECT_ROOT / ".engines" / "spark-cluster-test")
    try:
        cluster.start(cores=2, memory="2g")
        yield cluster
    finally:
        cluster.stop()


def test_score_marts_built_on_a_standalone_cluster_equal_duckdb(cluster, duckdb_reference_run, tmp_path):
    warehouse = SparkWarehouse(tmp_path / "spark", master=cluster.master_url())
    land_all(duckdb_reference_run["data"], warehouse)
    # the marts, their parents and the seed (tests are the local session's to run:
    # tests/engines/spark/test_spark_target.py)
    result = run_dbt(
        warehouse,
        ["build", "--select", *(f"+{table}" for table in MARTS), "--resource-type", "model", "--resource-type", "seed"],
        target_path=tmp_path / "target",
    )
    assert f"session on {cluster.master_url()}" in result.stdout
    with duckdb_reference_run["warehouse"].open(read_only=True) as con:
        expected = {table: read(con, table) for table in MARTS}
    with warehouse.open(read_only=True) as con:
        for table in MARTS:
            assert_same(expected[table], read(con, table), table)


def test_the_embedding_runs_in_the_clusters_executors(cluster, tmp_path):
    """encode_on_executors against the cluster: the vectors of a local encode, computed by Python workers that
    descend from the cluster's worker JVM (its executor started them), not from the driver's process."""
    script = """
import os, sys
from pathlib import Path
import numpy as np, psutil
from embeddings.encoders import encode_texts
from warehouse.spark import SparkWarehouse, start_session
from pipeline.spark_dbt import encode_on_executors
from core.settings import Settings
from embeddings.model_source import settings_model

spec = settings_model(Settings.from_env())
texts = [f"percentile {i} of the industry window" for i in range(300)]
spark = start_session(SparkWarehouse(Path(sys.argv[1]), master=sys.argv[2]))
remote = encode_on_executors(spark, spec, texts)
pids = spark.sparkContext.parallelize(range(4), 4).map(lambda _: os.getpid()).distinct().collect()
# asked while the application runs: its Python workers live as long as their executor
descend = [int(sys.argv[3]) in [p.pid for p in psutil.Process(pid).parents()] for pid in pids]
local = encode_texts(spec, texts, progress=False)
print("cosine", float(np.min((remote * local).sum(axis=1))), "from_the_worker", all(descend), len(pids))
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "spark"), cluster.master_url(), str(cluster.pids()["worker"])],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    words = next(line for line in result.stdout.splitlines() if line.startswith("cosine")).split()
    assert float(words[1]) >= 0.9999
    assert words[3] == "True" and int(words[4]) >= 1, words


def test_make_stop_stops_the_cluster(cluster):
    """Last in the module: the cluster the tests above used, stopped by `make stop` (as a developer stops it)."""
    assert cluster.running()
    result = subprocess.run(["make", "--no-print-directory", "stop"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[spark-cluster] stopped: spark-cluster-test" in result.stdout
    assert not cluster.running()
