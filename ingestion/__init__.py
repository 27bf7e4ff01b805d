"""Offline half of the platform: loaders that land raw files in the warehouse, and `ingest(doc_id)`."""

import warnings

__all__ = ["ingest"]

# pyspark 4.3.0 warns on import under pandas 3 ("does not yet fully support pandas >= 3.0.0"), and Great
# Expectations imports it whenever it is installed. What this project runs through it (Arrow conversions,
# mapInArrow) works with pandas 3.1.1, tested on every run of tests/test_spark_target.py (docs/spark.md).
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)


def __getattr__(name: str):
    # Lazy, so `python -m ingestion.land` (or .publish) does not find itself already imported by the package
    # (runpy's RuntimeWarning) and `import ingestion` stays cheap. The function lives in a module of another
    # name: a submodule called `ingest` would rebind this attribute once imported.
    if name == "ingest":
        from ingestion.document_chunks import ingest

        return ingest
    raise AttributeError(f"module 'ingestion' has no attribute {name!r}")
