"""The platform's one HTTP service (FastAPI): search, find-similar, a document's chunks, a user's interests
and health.

`make serve` runs `python -m serving.api`: uvicorn workers, each building its app with the factory
`serving.api:create_app` (importing the package builds nothing and reads no setting); OpenAPI at /docs. The
service reads only the *published* copy of the search index (pipeline.publish, PUBLISHED_PATH), never the
warehouse, so `dbt build` never waits for it.
A background thread polls that file every SEARCH_REFRESH_SECONDS (default 2) and swaps a newly published copy
in off the request path (pipeline.snapshot); searches keep answering from the old snapshot until the new one is
fully loaded. The same thread reloads the published `user_interest_scores` (serving.interests.InterestStore),
which `GET /interests/{user_handle}` answers from memory.

The package: `create_app` here (settings read once, then passed down), the state behind the endpoints in
`service` (SearchService) and `deps` (its dependency), bodies in `schemas`, error handling and the body limit
in `errors`, and one router per resource in `routes`.

Security: with API_TOKEN set, every endpoint but /health requires it as a bearer token (serving.api.auth).
The service builds no SQL from user input. Searches are answered from the in-memory index
(numpy / bm25s) and interests from the in-memory store; the only SQL is the fixed SELECTs that load the
published file. With SEARCH_BACKEND=postgres, dense search runs one fixed SELECT on `search_chunks` whose
values (the query's vector, the source and doc_id filters, k) are bound parameters, never spliced text.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI

from core.settings import Settings, check_api_token, check_search_backend
from embeddings.model_source import ModelSpec, settings_model
from serving.api.auth import add_authentication
from serving.api.budget import Budget
from serving.api.errors import add_error_handling
from serving.api.fast_path import InterestsFastPath
from serving.api.request_log import quiet_query_strings
from serving.api.routes import ROUTES
from serving.api.service import SearchService
from warehouse.local_postgres import connection


def create_app(
    published_path: Path | None = None,
    model: ModelSpec | None = None,
    refresh_seconds: float | None = None,
    backend: str | None = None,
    postgres: object | None = None,
    api_token: str | None = None,
    budget: Budget | None = None,
) -> FastAPI:
    """The service over `published_path` (default: PUBLISHED_PATH) with `model` (default: EMBEDDING_MODEL),
    looking for a new copy every `refresh_seconds` (default: SEARCH_REFRESH_SECONDS). `backend` (default:
    SEARCH_BACKEND) `postgres` searches `search_chunks` on `postgres` (an warehouse.local_postgres.Connection;
    default: PG*, else the project's local server) instead of the published copy; the interest scores still
    come from the published copy. `api_token` (default: API_TOKEN) is the bearer token every endpoint but /health
    then requires (serving.api.auth). `budget` (default: serving.api.budget's limits) bounds one find_similar.

    Nothing is loaded here, so importing the module never fails for want of an index; the model and the index
    load in the lifespan handler, before the first request is accepted."""
    settings = Settings.from_env()
    refresh_seconds = settings.search_refresh_seconds if refresh_seconds is None else float(refresh_seconds)
    if not refresh_seconds > 0:
        raise ValueError(f"refresh interval must be positive, got {refresh_seconds}")
    backend = check_search_backend(backend or settings.search_backend)

    def resolve_postgres():
        return postgres if postgres is not None else connection(settings.postgres_server)

    service = SearchService(
        Path(published_path) if published_path is not None else settings.published_path,
        (lambda: settings_model(settings)) if model is None else (lambda: model),
        refresh_seconds,
        backend=backend,
        postgres=resolve_postgres,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await anyio.to_thread.run_sync(service.start)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(service.stop)

    app = FastAPI(
        title="ML platform search service",
        description=(
            "Dense, BM25 and hybrid search over the published search index (document chunks and corpus "
            "passages), similarity ranking of ad-hoc texts, a document's chunks with their vectors, and a "
            "user's most likely interests. Reads only the published copy of the warehouse's `search_chunks` and "
            "`user_interest_scores` marts and reloads them when a new copy is published."
        ),
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.budget = budget or Budget()
    quiet_query_strings()  # the access log never holds a search's text (serving.api.request_log)
    app.router.routes.extend(ROUTES)  # flat, not app.include_router: see serving.api.routes
    add_error_handling(app)
    # inside authentication, outside everything else: GET /interests/{handle} with the defaults (serving.api.fast_path)
    app.add_middleware(InterestsFastPath, store=service.interests)
    add_authentication(app, check_api_token(api_token) if api_token is not None else settings.api_token)  # outermost
    return app
