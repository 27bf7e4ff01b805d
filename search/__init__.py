"""Search over the published index: BM25, dense and hybrid ranking, the in-memory and pgvector indexes, the
Retriever, and retrieval evaluation."""

from search.results import Result
from search.retriever import Retriever

__all__ = ["Result", "Retriever"]
