"""POST /find_similar: rank ad-hoc texts by cosine similarity to a query, with the configured model."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter

from ingestion.embedding import encode_chunked
from serving.api.deps import ServiceDep
from serving.api.errors import ERRORS
from serving.api.schemas import ErrorResponse, FindSimilarRequest, FindSimilarResponse, RankedDocument

router = APIRouter()


# plain `def`: encoding is CPU-bound, so FastAPI runs it in its threadpool and /health stays free
@router.post(
    "/find_similar", response_model=FindSimilarResponse,
    responses={**ERRORS, 413: {"model": ErrorResponse, "description": "Request body over 2 MB"}},
    summary="Rank the given documents by similarity to a query",
)
def find_similar(service: ServiceDep, request: FindSimilarRequest) -> FindSimilarResponse:
    """Encode the query and the documents with the configured model and rank the documents by cosine
    similarity. Independent of the published index: works before anything was published."""
    model = service.require_model()
    # texts longer than the model's window are compared on all their windows, never truncated: a document's
    # score is its best window's cosine similarity with the query's best window (unit vectors: dot products)
    query_vectors, _ = encode_chunked(model, [request.query])
    document_vectors, owners = encode_chunked(model, request.documents)
    window_scores = (document_vectors @ query_vectors.T).max(axis=1)
    scores = np.full(len(request.documents), -np.inf, dtype=np.float32)
    np.maximum.at(scores, owners, window_scores)
    order = np.lexsort((np.arange(len(scores)), -scores))  # best first, ties in request order
    ranking = [RankedDocument(index=int(i), document=request.documents[i], score=float(scores[i])) for i in order]
    return FindSimilarResponse(most_similar_doc=ranking[0].document, similarity_score=ranking[0].score, ranking=ranking)
