"""GET /documents/{doc_id}/chunks: one document's chunks (and optionally their vectors) from the index."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Query
from fastapi import Path as PathParam

from landing.documents import DOC_ID, validate_doc_id
from serving.api.deps import ServiceDep
from serving.api.errors import NEEDS_INDEX
from serving.api.schemas import DocumentChunk, DocumentChunks, ErrorResponse

router = APIRouter()


@router.get(
    "/documents/{doc_id}/chunks",
    response_model=DocumentChunks,
    response_model_exclude_unset=True,
    responses={**NEEDS_INDEX, 404: {"model": ErrorResponse, "description": "No such document in the index"}},
    summary="A document's chunks (and optionally their vectors)",
)
def document_chunks(
    service: ServiceDep,
    doc_id: Annotated[
        str,
        PathParam(
            description="A document id: letters, digits, '_' and '-'",
            json_schema_extra={"pattern": f"^{DOC_ID.pattern}$"},
        ),
    ],
    vectors: Annotated[bool, Query(description="Include each chunk's embedding")] = False,
) -> DocumentChunks:
    """Every chunk of one document in document order, from the in-memory index (source `document`)."""
    try:
        validate_doc_id(doc_id)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    retriever = service.require_retriever()
    index = retriever.index  # one snapshot, even if the refresher swaps it meanwhile
    rows = np.flatnonzero((index.sources == "document") & (index.doc_ids == doc_id))  # index is in document order
    if not len(rows):
        raise HTTPException(404, f"no document {doc_id!r} in the published index")
    chunk_vectors = index.chunk_vectors(rows) if vectors else None  # the postgres backend reads them there
    chunks = [
        DocumentChunk(
            chunk_id=index.chunk_ids[row],
            text=index.texts[row],
            pages=index.pages[row],
            **({"vector": chunk_vectors[i].tolist()} if vectors else {}),
        )  # unset: left out
        for i, row in enumerate(rows)
    ]
    return DocumentChunks(doc_id=doc_id, model_id=retriever.model.model_id, chunks=chunks)
