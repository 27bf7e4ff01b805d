"""`from ingestion import ingest`: the public entry point for one document, kept where users import it (it lives
in pipeline.ingest, beside the dbt runner it drives)."""

from pipeline.ingest import ingest

__all__ = ["ingest"]
