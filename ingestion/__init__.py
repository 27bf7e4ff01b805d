"""Offline half of the platform: loaders that land raw files in the warehouse, and `ingest(doc_id)`."""

# Imported eagerly on purpose: with a lazy wrapper, the first `import ingestion.ingest` anywhere rebinds the
# package attribute `ingest` to the submodule, and `from ingestion import ingest` then returns a module.
from ingestion.ingest import ingest

__all__ = ["ingest"]
