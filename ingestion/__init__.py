"""Offline half of the platform: loaders that land raw files in the warehouse, and `ingest(doc_id)`."""

__all__ = ["ingest"]


def __getattr__(name: str):
    # Lazy, so `python -m ingestion.land` (or .publish) does not find itself already imported by the package
    # (runpy's RuntimeWarning) and `import ingestion` stays cheap. The function lives in a module of another
    # name: a submodule called `ingest` would rebind this attribute once imported.
    if name == "ingest":
        from ingestion.document_chunks import ingest

        return ingest
    raise AttributeError(f"module 'ingestion' has no attribute {name!r}")
