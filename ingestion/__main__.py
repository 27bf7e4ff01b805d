"""`python -m ingestion <doc_id> [--output chunks.parquet]`: ingest one document, publish the search index,
print a summary."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ingestion.dbt_runner import DbtError
from ingestion.document_chunks import ingest_command
from ingestion.model_source import ModelSourceError
from ingestion.settings import Settings
from ingestion.warehouse import LandingError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingestion", description=__doc__.splitlines()[0])
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
