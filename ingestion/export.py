"""Write the score marts as Parquet under OUTPUT_DIR: `python -m ingestion.export`.

Reads through a short-lived read-only connection, so it never holds the warehouse's writer lock.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ingestion.settings import Settings
from ingestion.warehouse import connect

EXPORTED_TABLES = ("scores", "percentile_history")


def export_tables(duckdb_path: Path, output_dir: Path, tables: tuple[str, ...] = EXPORTED_TABLES) -> list[Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with connect(duckdb_path, read_only=True) as con:
        existing = {row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()}
        for table in tables:
            if table not in existing:
                print(f"[export] {table}: skipped, not built yet")
                continue
            path = output_dir / f"{table}.parquet"
            # table names come from the fixed tuple above, never from user input
            con.execute(f"copy (select * from main.{table}) to '{path}' (format parquet)")
            rows = con.execute(f"select count(*) from read_parquet('{path}')").fetchone()[0]
            print(f"[export] {table}: {rows} rows -> {path}")
            written.append(path)
    return written


def main() -> int:
    settings = Settings.from_env()
    export_tables(settings.duckdb_path, settings.output_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
