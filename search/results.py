"""What a search returns and what it accepts: the `Result` shape, the modes and sources, and the error an index
that cannot be served raises (shared by both backends and the service)."""

from __future__ import annotations

from dataclasses import dataclass

MODES = ("dense", "bm25", "hybrid")
DEFAULT_MODE = "dense"  # the winner of `make evaluate-retrieval` on the real corpus (docs/evaluation/)
SOURCES = ("document", "corpus")


class RetrieverError(Exception):
    """The index cannot be served (no published copy, a file DuckDB cannot open, or another model's vectors)."""


@dataclass(frozen=True)
class Result:
    document_id: str  # a corpus passage's own id, or `<doc_id>:<chunk_id>` for a document chunk
    document_text: str
    score: float  # cosine similarity (dense), BM25 score (bm25), reciprocal-rank-fusion score (hybrid)
    source: str = ""
    doc_id: str = ""
    chunk_id: str = ""
    pages: list[int] | None = None
