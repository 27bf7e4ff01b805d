"""DBT_TARGET=spark: the warehouse is a Spark SQL catalog of Parquet tables under SPARK_DIR (docs/spark.md).

Layout (all under SPARK_DIR, default `.engines/spark/`, git-ignored):

- `landing.duckdb`: the landing ledger. The project's loaders run unchanged into it (`SparkWarehouse.open` hands them
  its connection), so a file lands whole or not at all, and the refusals (same content, conflicting batch, out of
  order, bad rows) are DuckDB's exactly.
- `raw/<table>/`: the raw tables as Parquet files, one file per landed unit (a batch, a document, a corpus, the
  interests folder), written from the ledger when a landing connection closes (`mirror_raw`). Each file is
  written under a hidden name and renamed into place, so Spark sees a unit whole or not at all; a replaced
  document's file is swapped in one rename. Spark reads them as external tables `raw.<table>`
  (pipeline.spark_dbt registers them before dbt runs).
- `warehouse/<database>.db/<table>/`: the tables dbt builds (Parquet, the `spark` output of profiles.yml).
- `metastore/`: the embedded Derby metastore: one JVM at a time, so dbt on Spark runs in one process at a time.

Everything outside dbt (export, publish, ingest(), training, the GX checkpoint) reads through DuckDB as on the
other engines: `open_reader` gives a connection whose views name the Parquet files of Spark's tables. Spark
views have no files: what those readers need is materialized as tables on Spark (dbt_project.yml).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import duckdb

from core.settings import PROJECT_ROOT
from warehouse.base import Warehouse
from warehouse.errors import LandingError

STATE_DIR = PROJECT_ROOT / ".engines" / "spark"
DEFAULT_MASTER = "local[*]"
MIRROR_MANIFEST = "_mirrored.json"  # Spark skips files starting with _ or .: neither is ever read as data
SCHEMA_FILE = "schema.parquet"  # zero rows: every raw table has a schema before its first unit lands

# raw table -> (landing source in raw.landed_files, the column holding the landing key; None: one unit per source).
# A raw table missing here is refused by mirror_raw: a loader's table is never skipped silently.
RAW_UNITS = {
    "score_batches": ("score_batches", "batch"),
    "document_texts": ("documents", "doc_id"),
    "document_pages": ("documents", "doc_id"),
    "corpus_passages": ("corpora", "corpus"),
    "corpus_queries": ("corpora", "corpus"),
    "corpus_qrels": ("corpora", "corpus"),
    "users": ("interests", None),
    "interests": ("interests", None),
    "user_activity": ("interests", None),
}


def ignore_pandas_version_warning() -> None:
    """Silence pyspark 4.3.0's "does not yet fully support pandas >= 3.0.0" (a FutureWarning at each pandas
    conversion, and when Great Expectations imports pyspark, which it does whenever pyspark is installed): what this
    project runs through it (Arrow conversions, mapInArrow) works with pandas 3.1.1, tested by
    tests/engines/spark/test_spark_target.py (docs/spark.md). Call it before the import or the conversion."""
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)


class SparkEngineError(RuntimeError):
    """The Spark target cannot run: the message says what is missing and how to get it."""


@dataclass(frozen=True)
class SparkWarehouse(Warehouse):
    """Where DBT_TARGET=spark keeps everything (SPARK_DIR) and which Spark runs the queries (SPARK_MASTER)."""

    directory: Path
    master: str = DEFAULT_MASTER
    shuffle_partitions: int = 4  # engine tuning (core.settings: SPARK_SHUFFLE_PARTITIONS, SPARK_DRIVER_MEMORY)
    driver_memory: str = "4g"
    engine = "spark"

    @property
    def ledger(self) -> Path:
        return self.directory / "landing.duckdb"

    @property
    def raw_dir(self) -> Path:
        return self.directory / "raw"

    @property
    def tables_dir(self) -> Path:
        return self.directory / "warehouse"

    def __str__(self) -> str:
        return f"Spark warehouse {self.directory} (master {self.master})"

    def open(self, read_only: bool = False) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
        """Reading: views over Spark's Parquet files; writing: the landing ledger, mirrored to Parquet on close."""
        return open_reader(self) if read_only else open_landing(self)

    def attach(self, con: duckdb.DuckDBPyConnection, alias: str) -> None:
        con.execute(f"attach ':memory:' as {alias}")  # views over Spark's Parquet files, in a catalog of their own
        create_views(con, self, alias)

    def require_built(self) -> None:
        if not self.raw_dir.is_dir():
            raise LandingError(f"{self}: nothing landed yet; land and build first (make run)")

    def dbt_env(self) -> dict[str, str]:
        """What profiles.yml's `spark` output and the launcher read."""
        return {"DBT_TARGET": self.engine, "SPARK_DIR": str(self.directory), "SPARK_MASTER": self.master}

    def unfinished_build_marker(self) -> Path:
        return self.directory / "build-unfinished"

    def reset(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


# ---------------------------------------------------------------- landing: the ledger and its Parquet mirror


@contextlib.contextmanager
def open_landing(warehouse: SparkWarehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    """The ledger's connection for the loaders; on closing, what they committed is mirrored to Parquet.

    The mirror runs on opening too: units a killed process committed to the ledger but never mirrored appear at
    the next landing. It runs even when a loader failed: the files landed before the failure stay landed."""
    warehouse.directory.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse.ledger))
    try:
        mirror_raw(con, warehouse.raw_dir)
        yield con
    finally:
        try:
            mirror_raw(con, warehouse.raw_dir)
        finally:
            con.close()


def _unit_file(key: str | None) -> str:
    # landing keys are batch numbers, document ids, corpus names: quoted so any of them is one safe file name
    return "all.parquet" if key is None else f"key={quote(key, safe='')}.parquet"


def _write_atomically(con: duckdb.DuckDBPyConnection, query: str, params: list, path: Path) -> None:
    hidden = path.with_name(f".{path.name}.writing")
    con.execute(f"copy ({query}) to '{hidden}' (format parquet)", params)
    os.replace(hidden, path)  # one rename: readers see the old file or the new one, never a part


def mirror_raw(con: duckdb.DuckDBPyConnection, raw_dir: Path) -> list[str]:
    """Write every landed unit the mirror lacks (or holds with another content hash) as its own Parquet file,
    then raw.landed_files; remove units no longer landed. Idempotent; returns the files written."""
    tables = [
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw' and table_catalog = "
            "current_database() order by table_name"
        ).fetchall()
    ]
    unknown = sorted(set(tables) - set(RAW_UNITS) - {"landed_files"})
    if unknown:
        raise SparkEngineError(
            f"raw tables {', '.join(unknown)} have no Parquet layout for Spark (warehouse.spark.RAW_UNITS)"
        )
    if not tables:
        return []
    units: dict[str, dict[str, str]] = {}
    for source, key, content_hash in con.execute(
        "select source, landing_key, content_hash from raw.landed_files"
    ).fetchall():
        units.setdefault(source, {})[key] = content_hash
    written = []
    for table in tables:
        if table == "landed_files":
            continue
        source, key_column = RAW_UNITS[table]
        folder = raw_dir / table
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / SCHEMA_FILE).exists():
            _write_atomically(con, f"select * from raw.{table} limit 0", [], folder / SCHEMA_FILE)
        manifest_path = folder / MIRROR_MANIFEST
        mirrored = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        landed = units.get(source, {})
        wanted = {_unit_file(key if key_column else None): (key, content_hash) for key, content_hash in landed.items()}
        try:
            for name, (key, content_hash) in sorted(wanted.items()):
                if mirrored.get(name) == content_hash and (folder / name).exists():
                    continue
                where = f"where cast({key_column} as varchar) = ?" if key_column else ""
                _write_atomically(con, f"select * from raw.{table} {where}", [key] if key_column else [], folder / name)
                mirrored[name] = content_hash
                written.append(f"{table}/{name}")
            for name in sorted(set(mirrored) - set(wanted)):
                (folder / name).unlink(missing_ok=True)
                del mirrored[name]
        finally:  # once per table: a unit written but not recorded is only written again next time
            manifest_path.write_text(json.dumps(mirrored, indent=0, sort_keys=True))
    if written or not (raw_dir / "landed_files" / "all.parquet").exists():
        (raw_dir / "landed_files").mkdir(parents=True, exist_ok=True)
        _write_atomically(con, "select * from raw.landed_files", [], raw_dir / "landed_files" / "all.parquet")
    return written


# ---------------------------------------------------------------- reading outside dbt


@contextlib.contextmanager
def open_reader(warehouse: SparkWarehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection with a view per Spark table (create_views): every reader outside dbt."""
    con = duckdb.connect()
    try:
        create_views(con, warehouse)
        yield con
    finally:
        con.close()


def create_views(con: duckdb.DuckDBPyConnection, warehouse: SparkWarehouse, catalog: str = "memory") -> None:
    """In DuckDB catalog `catalog`, one view per Spark table over its Parquet files: `raw.<table>` for the landed
    tables, `<database>.<table>` for dbt's (database `main` is the default schema, as on DuckDB). Only files are
    read: no JVM, no metastore (which dbt may hold meanwhile)."""
    warehouse.require_built()
    con.execute(f"create schema if not exists {catalog}.raw")
    for folder in sorted(p for p in warehouse.raw_dir.iterdir() if p.is_dir()):
        _view(con, f"{catalog}.raw", folder)
    for database in sorted(warehouse.tables_dir.glob("*.db")):
        schema = f"{catalog}.{database.name.removesuffix('.db')}"
        con.execute(f"create schema if not exists {schema}")
        for folder in sorted(p for p in database.iterdir() if p.is_dir()):
            _view(con, schema, folder)


def _view(con: duckdb.DuckDBPyConnection, schema: str, folder: Path) -> None:
    files = [p for p in folder.glob("*.parquet") if not p.name.startswith((".", "_"))]
    if not files or not re.fullmatch(r"[a-z_][a-z0-9_]*", folder.name):
        return  # a table Spark is writing for the first time has no file yet
    listed = ", ".join(f"'{p}'" for p in sorted(files))
    con.execute(f"create view {schema}.{folder.name} as select * from read_parquet([{listed}])")


# ---------------------------------------------------------------- the session


def java_version() -> int | None:
    """The major version of `java` on PATH (or JAVA_HOME), None when there is none."""
    import shutil
    import subprocess

    java = Path(os.environ["JAVA_HOME"]) / "bin" / "java" if os.environ.get("JAVA_HOME") else shutil.which("java")
    if not java or not Path(java).exists():
        return None
    output = subprocess.run([str(java), "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', output)
    return int(match.group(1)) if match else None


def session_conf(warehouse: SparkWarehouse) -> dict[str, str]:
    """Every setting of the session (the launcher creates it before dbt, whose getOrCreate() returns it: profiles.yml's
    `spark` output repeats none of them)."""
    return {
        "spark.master": warehouse.master,
        "spark.sql.warehouse.dir": str(warehouse.tables_dir),
        # the metastore by its full path (Derby's default is the working directory), its log beside it
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={warehouse.directory / 'metastore' / 'metastore_db'};create=true"
        ),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={warehouse.directory / 'metastore'} "
        f"-Dderby.stream.error.file={warehouse.directory / 'metastore' / 'derby.log'}",
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.sources.default": "parquet",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",  # not INT96: DuckDB and Arrow read it as is
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": str(warehouse.shuffle_partitions),
        "spark.driver.memory": warehouse.driver_memory,  # local mode: the executors' too
        "spark.sql.ansi.enabled": "false",  # dbt-spark sets it off in its own session too
        # the executors' Python is this interpreter (its packages: the model, torch): on a cluster, the same
        # virtual environment at the same path on every worker
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
    }


def start_session(warehouse: SparkWarehouse):
    """The process's SparkSession (created once; dbt-spark's session method then reuses it)."""
    version = java_version()
    if version is None or version < 17:
        found = "no java" if version is None else f"Java {version}"
        raise SparkEngineError(
            f"DBT_TARGET=spark needs Java 17 or newer, found {found}: run `make setup` "
            "(installs openjdk-17-jre-headless) or set JAVA_HOME"
        )
    os.environ["PYSPARK_PYTHON"] = sys.executable  # the local executors' Python workers read it from here
    warehouse.directory.mkdir(parents=True, exist_ok=True)
    ignore_pandas_version_warning()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("ml_platform").enableHiveSupport()
    for key, value in session_conf(warehouse).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def register_raw_tables(spark, warehouse: SparkWarehouse) -> list[str]:
    """`raw.<table>` for every mirrored raw table: external Parquet tables over SPARK_DIR/raw/<table>, refreshed
    so a query sees the files landed since the table was registered."""
    spark.sql("create database if not exists raw")
    names = []
    for folder in sorted(p for p in warehouse.raw_dir.glob("*") if p.is_dir()):
        spark.sql(f"create table if not exists raw.{folder.name} using parquet location '{folder}'")
        spark.sql(f"refresh table raw.{folder.name}")
        names.append(folder.name)
    return names
