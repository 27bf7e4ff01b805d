"""The dependencies the endpoints take: the app's one SearchService (`ServiceDep`) and the limits of one request
(`BudgetDep`, serving.api.budget)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from serving.api.budget import Budget
from serving.api.service import SearchService


async def get_service(request: Request) -> SearchService:
    return request.app.state.service


async def get_budget(request: Request) -> Budget:
    return request.app.state.budget


ServiceDep = Annotated[SearchService, Depends(get_service)]
BudgetDep = Annotated[Budget, Depends(get_budget)]
