"""DBT_TARGET=spark, spike (docs/spark.md): the local Spark session and a first landing of the score batches.

Not wired into `make` yet. The session settings mirror profiles.yml's `spark` output (same warehouse and Derby
metastore under SPARK_DIR), so tables landed here are the ones dbt's session sees. Embedded Derby admits one JVM
at a time: landing and dbt run one after the other, never together.

    SPARK_DIR=.engines/spark .venv-spark/bin/python -m ingestion.engines.spark land-scores <dir of batch_<n>.json> [last batch]
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from ingestion.score_batches import _as_text, _json_type, batch_number, parse_batch
from ingestion.warehouse import sha256_of

RAW_SCORE_BATCHES_SCHEMA = (
    "batch int not null, record_index int not null, id string, score string, score_json_type string not null, "
    "industry string, source_file string not null, content_hash string not null, loaded_at timestamp not null"
)


def spark_dir() -> Path:
    return Path(os.environ.get("SPARK_DIR", ".engines/spark")).resolve()


def session_conf(directory: Path | None = None) -> dict[str, str]:
    """The static settings of the session (profiles.yml's `spark` output says the same)."""
    directory = directory or spark_dir()
    return {
        "spark.master": os.environ.get("SPARK_MASTER", "local[*]"),
        "spark.sql.warehouse.dir": str(directory / "warehouse"),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={directory / 'metastore'}",
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.sources.default": "parquet",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": os.environ.get("SPARK_SHUFFLE_PARTITIONS", "4"),
        "spark.sql.ansi.enabled": "false",  # dbt-spark forces it off; the same semantics for landing
    }


def session():
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("ml_platform").enableHiveSupport()
    for key, value in session_conf().items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def land_score_batches(spark, directory: Path, last_batch: int | None = None) -> int:
    """Spike: every batch file not landed yet, appended to raw.score_batches (one Parquet append per file).

    Not yet atomic per file nor refusing like the DuckDB loader (docs/spark.md says how it will be)."""
    spark.sql("create database if not exists raw")
    spark.sql(f"create table if not exists raw.score_batches ({RAW_SCORE_BATCHES_SCHEMA}) using parquet")
    landed = {row.batch for row in spark.sql("select distinct batch from raw.score_batches").collect()}
    rows = 0
    for path in sorted(Path(directory).glob("batch_*.json"), key=batch_number):
        batch = batch_number(path)
        if batch in landed or (last_batch is not None and batch > last_batch):
            continue
        data = path.read_bytes()
        items = parse_batch(path, data)
        content_hash = sha256_of(data)
        loaded_at = datetime.now(timezone.utc).replace(tzinfo=None)
        records = [
            (batch, index, _as_text(item["id"]), _as_text(item["score"]), _json_type(item["score"]),
             _as_text(item["industry"]), str(path), content_hash, loaded_at)
            for index, item in enumerate(items)
        ]
        frame = spark.createDataFrame(records, RAW_SCORE_BATCHES_SCHEMA)
        frame.write.insertInto("raw.score_batches")
        rows += len(records)
    return rows


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or argv[0] != "land-scores":
        print(__doc__, file=sys.stderr)
        return 2
    started = time.perf_counter()
    spark = session()
    ready = time.perf_counter()
    rows = land_score_batches(spark, Path(argv[1]), int(argv[2]) if len(argv) == 3 else None)
    total = spark.sql("select count(*) as n, count(distinct batch) as b from raw.score_batches").collect()[0]
    print(
        f"[spark] landed {rows} rows; raw.score_batches holds {total.n} rows in {total.b} batches "
        f"(session {ready - started:.1f} s, landing {time.perf_counter() - ready:.1f} s)"
    )
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
