"""`python -m ingestion <doc_id> [--output chunks.parquet]`: the same command as `python -m pipeline.ingest`."""

import sys

from pipeline.ingest import main

if __name__ == "__main__":
    sys.exit(main())
