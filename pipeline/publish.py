"""Publish what the online service reads as a separate DuckDB file, swapped in atomically:
`python -m pipeline.publish` (part of `make run`, after `dbt build`).

DuckDB allows one writer process, and a reader holding the warehouse open would make `dbt build` fail. So the
service never opens the warehouse: it reads this published copy, which is written beside it under a temporary
name and renamed over the previous one. A reader sees the old copy or the new one, never a half-built state,
and a build never waits for the service.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import duckdb

from core.settings import Settings
from warehouse import Warehouse, target_warehouse
from warehouse.errors import LandingError
from warehouse.vectors import fixed_size_vectors

# the marts the service answers from: search_chunks (every searchable chunk and its vector) for search,
# user_interest_scores for /interests
SERVED_TABLES = ("search_chunks", "user_interest_scores")


def published_file_key(published_path: Path) -> tuple[int, int, int] | None:
    """What identifies one publication of the copy (None when there is none): publishing renames a new file over
    the old one, so the inode changes; mtime and size catch a copy rewritten in place. Readers compare keys to
    know when to reload."""
    try:
        stat = Path(published_path).stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def publish(warehouse: Warehouse, published_path: Path) -> dict[str, int]:
    """Copy the served marts of `warehouse` into a fresh file and rename it over `published_path`; return row counts.

    The service reads a DuckDB copy whatever the engine, the vectors as FLOAT[dim] (pgvector's text form, Spark's
    plain lists, cast back)."""
    warehouse.require_built()
    published_path = Path(published_path)
    source_schema = warehouse.models_schema
    published_path.parent.mkdir(parents=True, exist_ok=True)
    staging = published_path.with_name(f".{published_path.name}.{os.getpid()}.tmp")
    staging.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    try:
        con = duckdb.connect(str(staging))
        try:
            warehouse.attach(con, "source_warehouse")
            existing = {
                row[0]
                for row in con.execute(
                    "select table_name from information_schema.tables "
                    "where table_catalog = 'source_warehouse' and table_schema = ?",
                    [source_schema],
                ).fetchall()
            }
            # a partial build (e.g. `python -m ingestion <doc_id>`) publishes what it built; the service answers
            # 503 for what is missing
            present = [table for table in SERVED_TABLES if table in existing]
            if "search_chunks" not in present:
                raise LandingError(f"{warehouse}: search_chunks not built yet: run `dbt build` first")
            for table in present:
                source = f"source_warehouse.{source_schema}.{table}"
                if table == "search_chunks":  # FLOAT[dim] from every engine
                    source = f"(select * replace ({fixed_size_vectors(con, source)} as embedding) from {source})"
                con.execute(f"create table main.{table} as select * from {source}")
                counts[table] = con.execute(f"select count(*) from main.{table}").fetchone()[0]
            built_at = warehouse.last_written()
            con.execute(
                """
                create table main.publication as
                select ? as warehouse_path, ?::timestamptz as warehouse_built_at, now() as published_at,
                       (select list(distinct model_id order by model_id) from main.search_chunks) as model_ids
                """,
                [str(warehouse), built_at],
            )
            con.execute("detach source_warehouse")
            con.execute("checkpoint")
        finally:
            con.close()
        os.replace(staging, published_path)  # atomic on POSIX: readers see the old file or the new one
    finally:
        staging.unlink(missing_ok=True)
        Path(f"{staging}.wal").unlink(missing_ok=True)
    return counts


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    settings = Settings.from_env()
    try:
        counts = publish(target_warehouse(settings), settings.published_path)
    except LandingError as exc:
        print(f"[publish] error: {exc}", file=sys.stderr)
        return 1
    print(f"[publish] {', '.join(f'{t} {n} rows' for t, n in counts.items())} -> {settings.published_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
