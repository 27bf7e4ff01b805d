"""The service's endpoints, one router per resource, gathered in `router` in the order /docs lists them."""

from fastapi import APIRouter

from serving.api.routes import documents, find_similar, health, interests, search

router = APIRouter()
for resource in (search, find_similar, documents, interests, health):
    router.include_router(resource.router)
