"""dbt on Spark, in one process with its SparkSession: `python -m pipeline.spark_dbt <dbt args>`.

pipeline.dbt_runner runs this for DBT_TARGET=spark. The process creates the session (the settings of
warehouse.spark.session_conf), registers the landed raw tables, then invokes dbt in process
(`dbtRunner`): dbt-spark's session method reuses that session, so one JVM holds the embedded metastore.

dbt-spark's session method runs no Python models. This launcher is the one place that runs them on Spark:
`build` and `run` are cut into phases along the graph (pipeline.dbt_runner.python_phases, as on Postgres); a
Python phase runs the model file itself (`run_python_model`), with the DuckDB `session` the model is written for
reading its refs (Spark tables as their Parquet files, Spark views as Arrow), and its result written as a Spark
Parquet table. Its encoding goes to the executors: embeddings.encoders.encode_texts is routed to a
`mapInArrow` job (`encode_on_executors`) that loads the model once per executor Python worker. Then dbt runs
the model's tests.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from core.settings import PROJECT_ROOT, Settings
from pipeline.dbt_runner import PHASED_COMMANDS, python_phases, resource_type_flags, split_selection
from warehouse import target_warehouse
from warehouse.spark import SparkWarehouse, ignore_pandas_version_warning, register_raw_tables, start_session

ENCODE_PARTITIONS_PER_CORE = 4  # a few tasks per core: the stage's progress bar moves, stragglers stay short


def invoke_dbt(args: list[str]) -> bool:
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(args)
    if result.exception is not None:
        print(f"[spark_dbt] dbt {' '.join(args[:1])} raised: {result.exception}", file=sys.stderr)
    return bool(result.success)


def run(args: list[str], warehouse: SparkWarehouse, project_dir: Path = PROJECT_ROOT) -> int:
    # pyspark logs every failed query's whole JVM stack trace as one JSON line; dbt reports the error itself
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    started = time.perf_counter()
    spark = start_session(warehouse)
    registered = register_raw_tables(spark, warehouse)
    print(
        f"[spark_dbt] session on {warehouse.master} in {time.perf_counter() - started:.1f} s; "
        f"raw tables: {', '.join(registered) or 'none landed yet'}",
        flush=True,
    )
    common = ["--project-dir", str(project_dir)]
    if not args or args[0] not in PHASED_COMMANDS:
        return 0 if invoke_dbt([*args, *common]) else 1
    command, (selection, rest) = args[0], split_selection(args[1:])
    # where dbt writes its manifest: pipeline.dbt_runner always passes --target-path
    target_path = Path(_option(rest, "--target-path") or project_dir / "target")
    from dbt.cli.main import dbtRunner

    listed = dbtRunner().invoke(
        [
            "ls",
            "--resource-type",
            "model",
            "--resource-type",
            "seed",
            "--resource-type",
            "snapshot",
            "--output",
            "json",
            "--output-keys",
            "unique_id",
            "--log-level",
            "none",
            *selection,
            *common,
            *_target_path_args(rest),
        ]
    )
    if not listed.success:
        return 1
    selected = {json.loads(line)["unique_id"] for line in listed.result}
    manifest = json.loads((target_path / "manifest.json").read_text())
    types = resource_type_flags(selection)
    for kind, uids in python_phases(manifest, selected):
        names = [manifest["nodes"][uid]["name"] for uid in uids]
        print(f"[spark_dbt] {kind} phase: {' '.join(names) if len(names) <= 6 else f'{len(names)} nodes'}", flush=True)
        if kind == "sql":
            ok = invoke_dbt([command, "--select", *names, *types, "--indirect-selection", "buildable", *rest, *common])
        else:
            full_refresh = bool({"--full-refresh", "-f"} & set(rest))
            run_python_model(spark, manifest, uids[0], project_dir, full_refresh)
            ok = command != "build" or invoke_dbt(
                ["test", "--select", *names, *types, "--indirect-selection", "cautious", *rest, *common]
            )
        if not ok:
            return 1  # later phases read what this one failed to build
    return 0


def _option(args: list[str], name: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _target_path_args(args: list[str]) -> list[str]:
    value = _option(args, "--target-path")
    return ["--target-path", value] if value else []


# ---------------------------------------------------------------- Python models


class _Dbt:
    """What a dbt-duckdb Python model uses of its `dbt` argument: config, ref, this, is_incremental."""

    def __init__(self, spark, con: duckdb.DuckDBPyConnection, manifest: dict, node: dict, full_refresh: bool):
        self._spark, self._con, self._manifest, self._node = spark, con, manifest, node
        self.materialized = node["config"]["materialized"]
        self.relation = f"{node['schema']}.{node['alias']}"
        self.exists = spark.catalog.tableExists(self.relation)
        self.is_incremental = self.materialized == "incremental" and self.exists and not full_refresh
        self.this = _duckdb_view(spark, con, self.relation) if self.exists else None

    def config(self, **_: object) -> None:
        pass  # dbt parsed the model's config into the manifest already (node["config"])

    def ref(self, name: str):
        for uid in self._node["depends_on"]["nodes"]:
            parent = self._manifest["nodes"].get(uid)
            if parent and parent["name"] == name:
                return self._con.table(_duckdb_view(self._spark, self._con, f"{parent['schema']}.{parent['alias']}"))
        raise KeyError(f"{self._node['name']} refers to {name}, which is not among its parents")


def _duckdb_view(spark, con: duckdb.DuckDBPyConnection, relation: str) -> str:
    """A DuckDB view of a Spark relation, named after it: a table's Parquet files, a view's rows as Arrow."""
    name = relation.replace(".", "__")
    details = {row.col_name: row.data_type for row in spark.sql(f"describe table extended {relation}").collect()}
    location = details.get("Location", "")
    if details.get("Type") != "VIEW" and location.startswith("file:"):
        files = sorted(p for p in Path(location.removeprefix("file:")).glob("*.parquet"))
        if files:
            listed = ", ".join(f"'{p}'" for p in files)
            con.execute(f"create or replace view {name} as select * from read_parquet([{listed}])")
            return name
    # a view, an empty table, or storage DuckDB cannot list (a cluster's HDFS or object store): through Spark
    con.register(f"{name}_arrow", spark.table(relation).toArrow())
    con.execute(f"create or replace view {name} as select * from {name}_arrow")
    return name


def run_python_model(spark, manifest: dict, uid: str, project_dir: Path, full_refresh: bool = False) -> None:
    node = manifest["nodes"][uid]
    path = project_dir / node["original_file_path"]
    spec = importlib.util.spec_from_file_location(f"spark_python_model_{node['name']}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    con = duckdb.connect()
    try:
        dbt = _Dbt(spark, con, manifest, node, full_refresh)
        from embeddings.encoders import encoding_elsewhere

        started = time.perf_counter()
        with encoding_elsewhere(lambda model, texts: encode_on_executors(spark, model, texts)):
            result = module.model(dbt, con)
        if not isinstance(result, pa.Table):
            result = result.to_arrow_table()
        mode = "append" if dbt.is_incremental else "overwrite"
        if result.num_rows or mode == "overwrite":
            plain = _plain_lists(result)
            if result.num_rows:
                frame = spark.createDataFrame(plain)
            else:  # pyspark cannot convert an empty Arrow table with timestamps: an empty frame of its schema
                from pyspark.sql.pandas.types import from_arrow_schema

                frame = spark.createDataFrame([], from_arrow_schema(plain.schema))
            frame.write.format("parquet").mode(mode).saveAsTable(dbt.relation)
        print(
            f"[spark_dbt] {node['name']}: {result.num_rows} rows ({mode}) in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
    finally:
        con.close()


def _plain_lists(table: pa.Table) -> pa.Table:
    """Fixed-size lists as plain lists: Spark has no fixed-size array (array<float> on Spark, as_vector)."""
    columns = [
        column.cast(pa.list_(column.type.value_type)) if pa.types.is_fixed_size_list(column.type) else column
        for column in table.columns
    ]
    return pa.table(columns, names=table.column_names)


# ---------------------------------------------------------------- embeddings on the executors


def encode_on_executors(spark, spec, texts: list[str]) -> np.ndarray:
    """encode_texts on the executors: the texts as a DataFrame, each partition encoded by `_encode_partition`
    in an executor's Python worker; the vectors come back in the texts' order."""
    from embeddings.encoders import prepare_model
    from embeddings.model_source import embedding_dimension

    dim = embedding_dimension(spec)
    if not texts:
        return np.zeros((0, dim), np.float32)
    prepare_model(spec)
    partitions = max(1, min(len(texts) // 64, spark.sparkContext.defaultParallelism * ENCODE_PARTITIONS_PER_CORE))
    frame = spark.createDataFrame(
        pa.table({"position": pa.array(range(len(texts)), pa.int64()), "text": pa.array(texts, pa.string())})
    ).repartition(partitions)
    started = time.perf_counter()
    encoded = frame.mapInArrow(
        lambda batches: _encode_partition(spec, batches), "position long, embedding array<float>"
    ).toArrow()
    seconds = time.perf_counter() - started
    print(
        f"[spark_dbt] encoded {len(texts)} texts on the executors ({partitions} tasks) in {seconds:.1f} s "
        f"({len(texts) / seconds:.1f} texts/s)",
        flush=True,
    )
    order = np.argsort(encoded.column("position").to_numpy())
    vectors = np.asarray(encoded.column("embedding").combine_chunks().flatten(), np.float32).reshape(-1, dim)
    return vectors[order]


def _encode_partition(spec, batches):
    """In an executor's Python worker: one model per worker process (load_encoder caches it), one thread per task
    (Spark runs a task per core: more threads would fight over the same cores)."""
    ignore_pandas_version_warning()  # a worker process of its own: the driver's filter does not reach it
    from embeddings.encoders import load_encoder

    encoder = load_encoder(spec, threads=1)
    for batch in batches:
        vectors = encoder.encode(batch.column("text").to_pylist())
        flat = pa.array(np.ascontiguousarray(vectors, np.float32).ravel(), pa.float32())
        yield pa.RecordBatch.from_arrays(
            [
                batch.column("position"),
                pa.ListArray.from_arrays(pa.array(np.arange(0, len(flat) + 1, vectors.shape[1], dtype=np.int32)), flat),
            ],
            ["position", "embedding"],
        )


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    project_dir = Path(_option(args, "--project-dir") or PROJECT_ROOT)
    if "--project-dir" in args:  # run() adds it to every dbt invocation
        index = args.index("--project-dir")
        del args[index : index + 2]
    return run(args, target_warehouse(Settings.from_env()), project_dir)


if __name__ == "__main__":
    sys.exit(main())
