"""POST /find_similar: rank ad-hoc texts by cosine similarity to a query, with the configured model, within the
request's budget (serving.api.budget)."""

from __future__ import annotations

import time

import anyio
import numpy as np
from fastapi import APIRouter, HTTPException, Request

from serving.api.budget import MAX_TOKENS, OverBudget, Stopped, encode_until_stopped, windows_within
from serving.api.deps import BudgetDep, ServiceDep
from serving.api.errors import ERRORS
from serving.api.schemas import ErrorResponse, FindSimilarRequest, FindSimilarResponse, RankedDocument

router = APIRouter()


# `async`: the work runs in worker threads a batch at a time (serving.api.budget), so between two batches this
# request can notice a gone client or a passed deadline, and the event loop (and /health) stays free meanwhile
@router.post(
    "/find_similar",
    response_model=FindSimilarResponse,
    responses={
        **ERRORS,
        413: {
            "model": ErrorResponse,
            "description": f"Request body over 2 MB, or more than {MAX_TOKENS:,} tokens to encode in all",
        },
        503: {"model": ErrorResponse, "description": "Stopped before the end: the request's deadline passed"},
    },
    summary="Rank the given documents by similarity to a query",
    description=(
        "Encode the query and the documents with the configured model and rank the documents by cosine "
        "similarity. Independent of the published index: works before anything was published.\n\n"
        f"Bounded: at most {MAX_TOKENS:,} tokens of the model in all (the query and the documents; a text longer "
        "than the model's 256-token window counts each of its windows, overlaps included), else 413 before "
        "anything is encoded. The work stops when the client goes away, and answers 503 when it has not finished "
        "within the request's deadline."
    ),
)
async def find_similar(
    service: ServiceDep, budget: BudgetDep, body: FindSimilarRequest, request: Request
) -> FindSimilarResponse:
    model = service.require_model()
    deadline = time.monotonic() + budget.deadline_seconds
    texts = [body.query, *body.documents]
    try:
        windows = await anyio.to_thread.run_sync(windows_within, model, texts, budget.max_tokens)
        vectors = await encode_until_stopped(model, windows, deadline, request.is_disconnected)
    except OverBudget as exc:
        raise HTTPException(413, str(exc)) from None
    except Stopped as exc:
        raise HTTPException(503, str(exc)) from None
    # texts longer than the model's window are compared on all their windows, never truncated: a document's
    # score is its best window's cosine similarity with the query's best window (unit vectors: dot products)
    is_query = windows.owners == 0
    window_scores = (vectors[~is_query] @ vectors[is_query].T).max(axis=1)
    scores = np.full(len(body.documents), -np.inf, dtype=np.float32)
    np.maximum.at(scores, windows.owners[~is_query] - 1, window_scores)
    order = np.lexsort((np.arange(len(scores)), -scores))  # best first, ties in request order
    ranking = [RankedDocument(index=int(i), document=body.documents[i], score=float(scores[i])) for i in order]
    return FindSimilarResponse(most_similar_doc=ranking[0].document, similarity_score=ranking[0].score, ranking=ranking)
