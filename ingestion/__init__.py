"""Offline half of the platform: loaders that land raw files in the warehouse, and `ingest(doc_id)`."""


def ingest(doc_id: str, **kwargs):
    """See ingestion.ingest.ingest (imported lazily: `import ingestion` stays light for the loaders)."""
    from ingestion.ingest import ingest as _ingest

    return _ingest(doc_id, **kwargs)


__all__ = ["ingest"]
