"""`ingest(doc_id)`: land a document, build its chunks and vectors with dbt, return them in document order."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from core.settings import Settings
from embeddings.model_source import ModelSourceError
from landing.documents import document_files, land_document, validate_doc_id
from landing.land import ensure_raw_tables
from pipeline.dbt_runner import DbtError, run_dbt
from pipeline.publish import publish
from warehouse import Warehouse, target_warehouse
from warehouse.errors import LandingError
from warehouse.vectors import fixed_size_vectors

# the models one document needs: its chunks and rejects marts and everything upstream (chunking, embeddings);
# cautious: only the tests whose every parent is built here (a test joining a document model with, say, the
# corpus marts belongs to a full build)
DOCUMENT_BUILD = ["--select", "+document_chunks", "+document_rejects", "--indirect-selection", "cautious"]


def ingest(
    doc_id: str,
    *,
    data_dir: Path | None = None,
    warehouse: Warehouse | None = None,
    target_path: Path | None = None,
    stream_dbt: bool = False,
) -> list[dict]:
    """Return one dict per chunk of the document, in document order:
    `{'text': str, 'vector': torch.Tensor (float32, 1-D, model dimension), 'pages': list[int]}`.

    Lands `texts_<doc_id>.json` and `pages_<doc_id>.csv` from `DATA_DIR/documents` if they changed, then runs
    `dbt build --select +document_chunks` (chunks not yet embedded by the current model are encoded; the rest
    are reused). Raises ValueError for a malformed doc_id (before any path is built) and FileNotFoundError
    naming the expected files when the document is missing. Without `data_dir`, `warehouse` or `target_path`
    (dbt's target folder), DATA_DIR, DBT_TARGET's warehouse (warehouse.target_warehouse) and DBT_TARGET_PATH.
    """
    doc_id = validate_doc_id(doc_id)
    if data_dir is None or warehouse is None or target_path is None:  # the entry point: settings from the environment
        settings = Settings.from_env()
        data_dir = data_dir or settings.data_dir
        warehouse = warehouse or target_warehouse(settings)
        target_path = target_path or settings.dbt_target_path
    return ingest_document(doc_id, Path(data_dir), warehouse, target_path, stream_dbt)


def ingest_document(
    doc_id: str, data_dir: Path, warehouse: Warehouse, target_path: Path, stream_dbt: bool = False
) -> list[dict]:
    """`ingest` with every setting given: land the document, build its chunks, return them."""
    import torch

    doc_id = validate_doc_id(doc_id)
    folder = data_dir / "documents"
    document_files(folder, doc_id)  # FileNotFoundError before the warehouse is touched
    with warehouse.open() as con:
        ensure_raw_tables(con)
        land_document(con, folder, doc_id)
    run_dbt(warehouse, ["build", *DOCUMENT_BUILD], target_path, stream=stream_dbt)
    with warehouse.open(read_only=True) as con:
        rows = con.execute(
            f"""
            select text, {fixed_size_vectors(con, "document_chunks")}, pages
            from document_chunks
            where doc_id = ?
            order by source_position, chunk_index
            """,
            [doc_id],
        ).fetchall()
    return [
        {"text": text, "vector": torch.from_numpy(np.asarray(vector, dtype=np.float32)), "pages": list(pages)}
        for text, vector, pages in rows
    ]


def summarize(doc_id: str, chunks: list[dict], seconds: float) -> str:
    pages = sorted({p for chunk in chunks for p in chunk["pages"]})
    dim = chunks[0]["vector"].shape[0] if chunks else 0
    return (
        f"document {doc_id}: {len(chunks)} chunks, {dim}-dimensional vectors, "
        f"pages {pages[0] if pages else '-'}..{pages[-1] if pages else '-'} ({len(pages)} distinct), {seconds:.1f}s"
    )


def ingest_command(doc_id: str, output: Path | None, settings: Settings) -> str:
    started = time.perf_counter()
    warehouse = target_warehouse(settings)
    chunks = ingest_document(doc_id, settings.data_dir, warehouse, settings.dbt_target_path, stream_dbt=True)
    if output is not None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        dim = chunks[0]["vector"].shape[0] if chunks else 0
        vectors = np.stack([c["vector"].numpy() for c in chunks]) if chunks else np.zeros((0, dim), np.float32)
        table = pa.table(
            {
                "doc_id": pa.array([doc_id] * len(chunks), pa.string()),
                "text": pa.array([c["text"] for c in chunks], pa.string()),
                "pages": pa.array([c["pages"] for c in chunks], pa.list_(pa.int32())),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), dim),
            }
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, output)
    # the shell command also publishes, so a running service (serving.api) picks the document up
    publish(warehouse, settings.published_path)
    return (
        summarize(doc_id, chunks, time.perf_counter() - started)
        + (f" -> {output}" if output else "")
        + f"; search index published to {settings.published_path}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("doc_id", help="document id: DATA_DIR/documents/texts_<doc_id>.json and pages_<doc_id>.csv")
    parser.add_argument("--output", type=Path, help="also write the chunks (text, pages, vector) as Parquet")
    args = parser.parse_args(argv)
    try:
        print(ingest_command(args.doc_id, args.output, Settings.from_env()))
    except (ValueError, FileNotFoundError, LandingError, ModelSourceError, DbtError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
