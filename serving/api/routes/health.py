"""GET /health: liveness, and what is being served (the index, the interest scores, why a load failed)."""

from __future__ import annotations

from fastapi import APIRouter

from serving.api.deps import ServiceDep
from serving.api.schemas import Health

router = APIRouter()


@router.get("/health", response_model=Health, summary="Liveness and what is being served")
async def health(service: ServiceDep) -> Health:
    """Always 200 while the process runs; `status` says whether an index is being served."""
    retriever = service.retriever.current
    index = retriever.index if retriever is not None else None
    return Health(
        status="ok" if index is not None else "no_index",
        model_id=service.model.model_id if service.model else None,
        vectors=index.size if index is not None else 0,
        published_at=index.published_at if index is not None else None,
        warehouse_built_at=index.warehouse_built_at if index is not None else None,
        published_path=str(service.published_path),
        search_backend=service.backend,
        detail=service.retriever.error,
        interest_users=service.interests.size,
        interest_model_version=service.interests.model_version,
        interest_detail=service.interests.error,
    )
