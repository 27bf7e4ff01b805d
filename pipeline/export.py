"""Write the marts people take elsewhere as Parquet under OUTPUT_DIR: `python -m pipeline.export`.

- `scores.parquet`, `percentile_history.parquet`: the score marts.
- `document_chunks.parquet`: chunks with `pages` (list<int32>) and `embedding` (fixed_size_list<float>[dim]),
  keyed by `content_hash` + `model_id`, ready for bulk loading into a managed vector store (docs/vector_store.md).

Written through Arrow (not DuckDB's COPY, which stores fixed-size arrays as plain lists), in record batches so
memory stays flat; through a short-lived read-only connection, so it never holds the writer lock.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow.parquet as pq

from core.settings import Settings
from warehouse import LandingError, Warehouse, target_warehouse
from warehouse.base import default_schema_tables
from warehouse.vectors import fixed_size_vectors

# Unqualified names: the default schema of either engine (DuckDB's main, Postgres's public, read through DuckDB).
# {embedding} is FLOAT[dim] on both engines (fixed_size_vectors), so both write the same Parquet schema.
EXPORTS = {
    "scores": "select * from scores order by id",
    "percentile_history": "select * from percentile_history order by iteration, id",
    "document_chunks": """
        select doc_id, chunk_id, source_position, chunk_index, text, pages, token_count,
               content_hash, model_id, {embedding} as embedding
        from document_chunks
        order by doc_id, source_position, chunk_index
    """,
}


def export_tables(warehouse: Warehouse, output_dir: Path, tables: tuple[str, ...] = tuple(EXPORTS)) -> list[Path]:
    """Each of `tables` of `warehouse` as `output_dir/<table>.parquet`; a table not built yet is skipped, saying so."""
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with warehouse.open(read_only=True) as con:
        existing = default_schema_tables(con)
        for table in tables:
            if table not in existing:
                print(f"[export] {table}: skipped, not built yet")
                continue
            path = output_dir / f"{table}.parquet"
            query = EXPORTS[table]
            if "{embedding}" in query:
                query = query.replace("{embedding}", fixed_size_vectors(con, table))
            reader = con.execute(query).to_arrow_reader(batch_size=100_000)
            rows = 0
            with pq.ParquetWriter(path, reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
            print(f"[export] {table}: {rows} rows -> {path}")
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    settings = Settings.from_env()
    try:
        warehouse = target_warehouse(settings)
        warehouse.require_built()
        export_tables(warehouse, settings.output_dir)
    except LandingError as exc:
        print(f"[export] error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
