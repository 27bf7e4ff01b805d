"""GET /search: the k best chunks of the published index for a query (dense, bm25 or hybrid)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AfterValidator

from core.text import VISIBLE_CHARACTER
from search.results import DEFAULT_MODE
from serving.api.deps import ServiceDep
from serving.api.errors import NEEDS_INDEX
from serving.api.schemas import Mode, SearchHit, SearchResponse, SourceFilter, check_text

MAX_QUERY_CHARS = 2_000  # a search query; longer is a pasted document, not a query
MAX_K = 100

router = APIRouter()


# plain `def`: encoding the query is CPU-bound, so FastAPI runs it in its threadpool and /health stays free
@router.get("/search", response_model=SearchResponse, responses=NEEDS_INDEX, summary="Search the published index")
def search(
    service: ServiceDep,
    q: Annotated[
        str,
        Query(
            max_length=MAX_QUERY_CHARS,
            json_schema_extra={"minLength": 1, "pattern": VISIBLE_CHARACTER},
            description=f"The query text: non-blank (a visible character), at most {MAX_QUERY_CHARS:,} characters",
        ),
        AfterValidator(check_text),
    ],
    k: Annotated[int, Query(ge=1, le=MAX_K, description="How many results")] = 10,
    mode: Annotated[
        Mode, Query(description="dense (cosine), bm25 (keywords) or hybrid (reciprocal rank fusion)")
    ] = DEFAULT_MODE,
    source: Annotated[
        SourceFilter, Query(description="Only document chunks or only corpus passages; empty: both")
    ] = "",
    doc_id: Annotated[str, Query(max_length=200, description="Only this document id or corpus name; empty: all")] = "",
) -> SearchResponse:
    """The k best chunks for `q`, best first: document chunks and corpus passages, one hit per result id."""
    retriever = service.require_retriever()
    results = retriever.search(q, k, mode=mode, source=source or None, doc_id=doc_id or None)  # "": no filter
    return SearchResponse(
        query=q,
        mode=mode,
        k=k,
        model_id=retriever.model.model_id,
        results=[
            SearchHit(
                id=r.document_id,
                text=r.document_text,
                score=r.score,
                source=r.source,
                doc_id=r.doc_id,
                chunk_id=r.chunk_id,
                pages=r.pages,
            )
            for r in results
        ],
    )
