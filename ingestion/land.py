"""Land every raw source found in DATA_DIR into the warehouse: `python -m ingestion.land`.

A missing source folder is skipped with a message, so the same command works on the project's sample and on
any data folder with the same layout (`score_batches/`, `documents/`, `interests/`, `retrieval/`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb

from ingestion import corpora, documents, interests, score_batches
from ingestion.settings import Settings
from ingestion.warehouse import LandingError, open_warehouse, target_warehouse, transaction


def _land_score_batches(con: duckdb.DuckDBPyConnection, folder: Path) -> str:
    results = score_batches.land_score_batches(con, folder)
    new = [r for r in results if r.status == "landed"]
    return (
        f"{len(results)} batch files, {len(new)} newly landed ({sum(r.rows for r in new)} rows), "
        f"{len(results) - len(new)} already landed"
    )


def _land_documents(con: duckdb.DuckDBPyConnection, folder: Path) -> str:
    results = documents.land_documents(con, folder)
    by_status = {status: sum(r.status == status for r in results) for status in ("landed", "replaced", "unchanged")}
    return f"{len(results)} documents: " + ", ".join(f"{n} {status}" for status, n in by_status.items())


def _land_corpora(con: duckdb.DuckDBPyConnection, folder: Path) -> str:
    results = corpora.land_corpora(con, folder)
    return "; ".join(
        f"{r.corpus}: {r.passages} passages, {r.queries} queries, {r.qrels} judgments ({r.status})" for r in results
    ) or "no corpus (no <name>/corpus.jsonl)"


def _land_interests(con: duckdb.DuckDBPyConnection, folder: Path) -> str:
    result = interests.land_interests(con, folder)
    return ", ".join(f"{table} {n} rows" for table, n in result.rows.items()) + f" ({result.status})"


# folder under DATA_DIR -> loader; each loader lands one transaction per file or document.
LOADERS: dict[str, Callable[[duckdb.DuckDBPyConnection, Path], str]] = {
    "score_batches": _land_score_batches,
    "documents": _land_documents,
    "retrieval": _land_corpora,
    "interests": _land_interests,
}
# every raw table exists after landing, even for a source with no folder, so dbt build always runs
RAW_DDL = (score_batches.RAW_DDL, documents.RAW_DDL, corpora.RAW_DDL, interests.RAW_DDL)


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    with transaction(con, *RAW_DDL):
        pass


def land_all(data_dir: Path, warehouse) -> None:
    """Land into `warehouse`: a DuckDB file's Path, or a Postgres Connection (ingestion.warehouse.open_warehouse)."""
    if not data_dir.is_dir():
        raise LandingError(f"DATA_DIR {data_dir} is not a folder")
    with open_warehouse(warehouse) as con:
        ensure_raw_tables(con)
        for folder_name, loader in LOADERS.items():
            folder = data_dir / folder_name
            if not folder.is_dir():
                print(f"[land] {folder_name}: skipped, {folder} does not exist")
                continue
            print(f"[land] {folder_name}: {loader(con, folder)}")


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=settings.data_dir)
    parser.add_argument("--duckdb-path", type=Path, default=settings.duckdb_path)
    args = parser.parse_args(argv)
    if settings.dbt_target != "duckdb":
        print(f"[land] DATA_DIR={args.data_dir} DBT_TARGET={settings.dbt_target}")
    else:
        print(f"[land] DATA_DIR={args.data_dir} DUCKDB_PATH={args.duckdb_path}")
    try:
        land_all(args.data_dir, args.duckdb_path if settings.dbt_target == "duckdb" else target_warehouse(settings))
    except LandingError as exc:
        print(f"[land] error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
