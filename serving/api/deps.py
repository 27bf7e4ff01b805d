"""The dependency every endpoint takes: the app's one SearchService (`ServiceDep`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from serving.api.service import SearchService


async def get_service(request: Request) -> SearchService:
    return request.app.state.service


ServiceDep = Annotated[SearchService, Depends(get_service)]
