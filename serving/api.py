"""The platform's one HTTP service (FastAPI): search, find-similar, a document's chunks, a user's interests
and health.

`make serve` runs `uvicorn serving.api:app`; OpenAPI at /docs. The service reads only the *published* copy of
the search index (ingestion.publish, PUBLISHED_PATH), never the warehouse, so `dbt build` never waits for it.
A background thread polls that file every SEARCH_REFRESH_SECONDS (default 2) and swaps a newly published copy
in off the request path; searches keep answering from the old snapshot until the new one is fully loaded.
The same thread reloads the published `user_interest_scores` (serving.interests.InterestStore), which
`GET /interests/{user_handle}` answers from memory.

Security: the service runs no SQL on user input at all. Searches are answered from the in-memory index
(numpy / bm25s) and interests from the in-memory store; the only SQL is the fixed SELECTs that load the
published file.
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Callable, Literal, get_args

import anyio
import numpy as np
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationError, field_validator

from ingestion.documents import validate_doc_id
from ingestion.embedding import encode_chunked, encode_texts, load_encoder
from ingestion.model_source import ModelSpec
from ingestion.publish import published_file_key
from ingestion.settings import Settings
from serving.interests import (
    DEFAULT_LIMIT as DEFAULT_INTEREST_LIMIT, HANDLE_RULE, MAX_LIMIT as MAX_INTEREST_LIMIT, InterestStore,
    validate_handle,
)
from serving.retriever import DEFAULT_MODE, MODES, SOURCES, Retriever, RetrieverError

log = logging.getLogger(__name__)

DEFAULT_REFRESH_SECONDS = 2.0
MAX_QUERY_CHARS = 2_000  # a search query; longer is a pasted document, not a query
MAX_K = 100
MAX_DOCUMENTS = 1_000  # find_similar: bounds the encoding work one request can ask for
MAX_DOCUMENT_CHARS = 20_000
MAX_BODY_BYTES = 2 * 1024 * 1024  # 1,000 documents of ~2,000 characters; refused before any JSON parsing

Mode = Literal["dense", "bm25", "hybrid"]
Source = Literal["document", "corpus"]
if set(get_args(Mode)) != set(MODES) or set(get_args(Source)) != set(SOURCES):  # the API mirrors the retriever
    raise RuntimeError(f"serving.api lists other modes/sources than serving.retriever: {MODES}, {SOURCES}")


# ---------------------------------------------------------------- schemas

class ErrorResponse(BaseModel):
    detail: str = Field(description="What was wrong, in words")
    errors: list[dict] | None = Field(None, description="Per-field validation errors (422 only)")


class SearchHit(BaseModel):
    id: str = Field(description="A corpus passage's id, or `<doc_id>:<chunk_id>` for a document chunk")
    text: str
    score: float = Field(description="Cosine similarity (dense), BM25 score (bm25) or reciprocal-rank-fusion (hybrid)")
    source: str = Field(description="`document` or `corpus`")  # a str: a new source in the data must not 500
    doc_id: str = Field(description="The document id, or the corpus name for a corpus passage")
    chunk_id: str
    pages: list[int] | None = Field(description="Pages a document chunk spans; null for corpus passages")


class SearchResponse(BaseModel):
    query: str
    mode: Mode
    k: int
    model_id: str = Field(description="The embedding model the index and the query vector come from")
    results: list[SearchHit] = Field(description="Best first; at most k, one per result id")


class FindSimilarRequest(BaseModel):
    query: str = Field(description="The text to compare every document with", examples=["How do I reset my password?"])
    documents: list[str] = Field(
        description=f"1 to {MAX_DOCUMENTS:,} non-blank texts of at most {MAX_DOCUMENT_CHARS:,} characters. A text "
        "longer than the model's 256-token window is compared on all its windows (its best one counts).",
        json_schema_extra={"minItems": 1, "maxItems": MAX_DOCUMENTS},
        examples=[["A recipe for pancakes", "To reset your password, open settings and choose 'Forgot password'"]],
    )

    @field_validator("query")
    @classmethod
    def _query_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty or only whitespace")
        if len(value) > MAX_DOCUMENT_CHARS:
            raise ValueError(f"has {len(value):,} characters; at most {MAX_DOCUMENT_CHARS:,} are allowed")
        return value

    @field_validator("documents")
    @classmethod
    def _documents_bounded(cls, value: list[str]) -> list[str]:
        # explicit messages naming the offending document, rather than pydantic's generic constraint errors
        if not value:
            raise ValueError("documents must hold at least one document")
        if len(value) > MAX_DOCUMENTS:
            raise ValueError(f"documents holds {len(value):,} items; at most {MAX_DOCUMENTS:,} are allowed")
        for index, document in enumerate(value):
            if not document.strip():
                raise ValueError(f"documents[{index}] is empty or only whitespace")
            if len(document) > MAX_DOCUMENT_CHARS:
                raise ValueError(
                    f"documents[{index}] has {len(document):,} characters; at most {MAX_DOCUMENT_CHARS:,} are allowed"
                )
        return value


class RankedDocument(BaseModel):
    index: int = Field(description="Position of the document in the request")
    document: str
    score: float = Field(description="Cosine similarity with the query, -1..1")


class FindSimilarResponse(BaseModel):
    most_similar_doc: str
    similarity_score: float
    ranking: list[RankedDocument] = Field(description="Every document, most similar first")


class DocumentChunk(BaseModel):
    chunk_id: str
    text: str
    pages: list[int] | None
    vector: list[float] | None = Field(None, description="The chunk's unit-length embedding (only with vectors=true)")


class DocumentChunks(BaseModel):
    doc_id: str
    model_id: str
    chunks: list[DocumentChunk] = Field(description="In document order")


class Interest(BaseModel):
    id: str = Field(description="The interest's id (the model's catalogue)")
    label: str
    probability: float = Field(description="Calibrated probability that the user holds the interest, 0..1")


class UserInterestsResponse(BaseModel):
    user_handle: str
    name: str | None = Field(description="The user's display name")
    type: str | None = Field(description="The user's type: B2B or B2C")
    model_version: str | None = Field(description="The interest model version that scored the user")
    cold_start: bool = Field(
        description="True when the user has no activity: the probabilities are the user type's prior (the share "
        "of training users of that type holding the interest)"
    )
    interests: list[Interest] = Field(
        description="Most likely first; at most `limit`, only those with probability >= `min_probability`"
    )


class Health(BaseModel):
    status: Literal["ok", "no_index"] = Field(description="`no_index` until a published index could be loaded")
    model_id: str | None
    vectors: int = Field(description="Chunks (vectors) in the index being served")
    published_at: str | None
    warehouse_built_at: str | None
    published_path: str
    detail: str | None = Field(None, description="Why the last load of the published file failed, if it did")
    interest_users: int = Field(0, description="Users in the interest scores being served (GET /interests)")
    interest_model_version: str | None = Field(None, description="The interest model version being served")
    interest_detail: str | None = Field(None, description="Why the last load of the interest scores failed, if it did")


# ---------------------------------------------------------------- the index being served

class SearchService:
    """The configured model and the Retriever over the published file, kept fresh by a background thread."""

    def __init__(self, published_path: Path, resolve_model: Callable[[], ModelSpec], refresh_seconds: float):
        self.published_path = published_path
        self.resolve_model = resolve_model  # deferred to start(): a bad model source fails the start, not the import
        self.refresh_seconds = refresh_seconds
        self.model: ModelSpec | None = None
        self.retriever: Retriever | None = None
        self.interests = InterestStore()  # user_interest_scores of the same published file
        self.error: str | None = None  # why the last load failed
        self._failed_key: tuple[int, int, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Load the model (find_similar needs it even without an index) and the index, then start refreshing."""
        self.model = self.resolve_model()
        load_encoder(self.model)
        encode_texts(self.model, ["warm up"], progress=False)  # the first request should not pay for this
        self.refresh()
        self._stop.clear()
        self._thread = threading.Thread(target=self._refresh_loop, name="search-index-refresher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            self.refresh()

    def refresh(self) -> None:
        """Create the Retriever once a published file exists, or let it reload a newly published one.

        Never raises: a bad copy (another model's vectors, a broken file) is logged and reported by /health,
        the previous snapshot keeps serving, and that same file is not reloaded every tick. The interest
        scores are loaded on their own (a search index that cannot be served does not stop them)."""
        key = published_file_key(self.published_path)
        if key is not None:
            self.interests.refresh(self.published_path)  # never raises; remembers its own failures
        if key is None or key == self._failed_key:
            return  # nothing published yet (or it vanished: keep the snapshot), or this exact file already failed
        try:
            if self.retriever is None:
                self.retriever = Retriever(self.published_path, model=self.model)
                log.info("serving %d vectors from %s", self.retriever.index.size, self.published_path)
            elif self.retriever.refresh():
                log.info("reloaded %s: %d vectors", self.published_path, self.retriever.index.size)
            self.error, self._failed_key = None, None
        except Exception as exc:  # noqa: BLE001 - the refresher must survive any bad file
            self.error, self._failed_key = str(exc), key
            log.warning("cannot load %s: %s", self.published_path, exc)

    def require_retriever(self) -> Retriever:
        retriever = self.retriever
        if retriever is None:
            if self.error:
                raise RetrieverError(f"the published index at {self.published_path} cannot be served: {self.error}")
            raise RetrieverError(
                f"no published index at {self.published_path}: run `make run` (land, dbt build, publish)"
            )
        return retriever

    def require_model(self) -> ModelSpec:
        if self.model is None:  # only before startup finished
            raise RetrieverError("the embedding model is not loaded yet")
        return self.model


async def get_service(request: Request) -> SearchService:
    return request.app.state.service


ServiceDep = Annotated[SearchService, Depends(get_service)]


# ---------------------------------------------------------------- endpoints
# Encoding is CPU-bound, so the endpoints that encode are plain `def`: FastAPI runs them in its threadpool and
# the event loop stays free for /health.

def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return value


def _blank_to_none(value: object) -> object:
    return None if value == "" else value  # `?source=` from a form means "no filter"


router = APIRouter()
ERRORS = {422: {"model": ErrorResponse, "description": "Invalid input"}}
NEEDS_INDEX = {**ERRORS, 503: {"model": ErrorResponse, "description": "No published index can be served yet"}}


@router.get("/search", response_model=SearchResponse, responses=NEEDS_INDEX, summary="Search the published index")
def search(
    service: ServiceDep,
    q: Annotated[
        str, Query(max_length=MAX_QUERY_CHARS, description="The query text (non-blank)"), AfterValidator(_not_blank)
    ],
    k: Annotated[int, Query(ge=1, le=MAX_K, description="How many results")] = 10,
    mode: Annotated[
        Mode, Query(description="dense (cosine), bm25 (keywords) or hybrid (reciprocal rank fusion)")
    ] = DEFAULT_MODE,
    source: Annotated[
        Source | None, BeforeValidator(_blank_to_none), Query(description="Only document chunks or only corpus passages")
    ] = None,
    doc_id: Annotated[str | None, Query(max_length=200, description="Only this document id or corpus name")] = None,
) -> SearchResponse:
    """The k best chunks for `q`, best first: document chunks and corpus passages, one hit per result id."""
    retriever = service.require_retriever()
    results = retriever.search(q, k, mode=mode, source=source, doc_id=doc_id or None)  # `doc_id=`: no filter
    return SearchResponse(
        query=q, mode=mode, k=k, model_id=retriever.model.model_id,
        results=[
            SearchHit(id=r.document_id, text=r.document_text, score=r.score, source=r.source, doc_id=r.doc_id,
                      chunk_id=r.chunk_id, pages=r.pages)
            for r in results
        ],
    )


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


@router.get(
    "/documents/{doc_id}/chunks", response_model=DocumentChunks, response_model_exclude_unset=True,
    responses={**NEEDS_INDEX, 404: {"model": ErrorResponse, "description": "No such document in the index"}},
    summary="A document's chunks (and optionally their vectors)",
)
def document_chunks(
    service: ServiceDep,
    doc_id: Annotated[str, PathParam(description="A document id: letters, digits, '_' and '-'")],
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
    chunks = [
        DocumentChunk(chunk_id=index.chunk_ids[row], text=index.texts[row], pages=index.pages[row],
                      **({"vector": index.vectors[row].tolist()} if vectors else {}))  # unset: left out
        for row in rows
    ]
    return DocumentChunks(doc_id=doc_id, model_id=retriever.model.model_id, chunks=chunks)


@router.get(
    "/interests/{user_handle:path}", response_model=UserInterestsResponse,
    responses={
        422: {"model": ErrorResponse, "description": "Malformed handle, limit or min_probability"},
        404: {"model": ErrorResponse, "description": "No such user in the published interest scores"},
        503: {"model": ErrorResponse, "description": "No published interest scores can be served yet"},
    },
    summary="A user's most likely interests",
)
async def user_interests(
    service: ServiceDep,
    user_handle: Annotated[str, PathParam(description=f"The user's handle: {HANDLE_RULE}")],
    limit: Annotated[
        int, Query(ge=1, le=MAX_INTEREST_LIMIT, description=f"At most this many interests (1-{MAX_INTEREST_LIMIT})")
    ] = DEFAULT_INTEREST_LIMIT,
    min_probability: Annotated[
        float,
        Query(ge=0, le=1, allow_inf_nan=False,
              description="Only interests with a probability at or above this (0-1); may return fewer than `limit`"),
    ] = 0.0,
) -> UserInterestsResponse:
    """The user's interests from the published `user_interest_scores` mart (scored by the interest model at
    `dbt build`), most likely first. Users without activity (`cold_start`) get their type's prior, so every
    known user has interests. Answered from memory: a dict lookup and a slice, no SQL and no model per request
    (hence `async`: nothing here blocks)."""
    try:
        validate_handle(user_handle)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    store = service.interests
    snapshot = store.snapshot  # one snapshot for this request, even if the refresher swaps it meanwhile
    if snapshot is None:
        if store.error:
            raise HTTPException(503, f"the published interest scores at {service.published_path} cannot be "
                                     f"served: {store.error}")
        raise HTTPException(503, f"no published interest scores at {service.published_path}: run `make run` "
                                 "(land, dbt build, publish)")
    found = snapshot.lookup(user_handle, limit, min_probability)
    if found is None:
        hint = "" if snapshot.size else " (it holds no users: land DATA_DIR/interests/, dbt build and publish)"
        raise HTTPException(404, f"no user {user_handle!r} in the published interest scores{hint}")
    return UserInterestsResponse(
        user_handle=found.user_handle, name=found.name, type=found.user_type, model_version=found.model_version,
        cold_start=found.cold_start,
        interests=[
            Interest(id=interest_id, label=label, probability=probability)
            for interest_id, label, probability in zip(found.interest_ids, found.labels, found.probabilities)
        ],
    )


@router.get("/health", response_model=Health, summary="Liveness and what is being served")
async def health(service: ServiceDep) -> Health:
    """Always 200 while the process runs; `status` says whether an index is being served."""
    retriever = service.retriever
    index = retriever.index if retriever is not None else None
    return Health(
        status="ok" if index is not None else "no_index",
        model_id=service.model.model_id if service.model else None,
        vectors=index.size if index is not None else 0,
        published_at=index.published_at if index is not None else None,
        warehouse_built_at=index.warehouse_built_at if index is not None else None,
        published_path=str(service.published_path),
        detail=service.error,
        interest_users=service.interests.size,
        interest_model_version=service.interests.model_version,
        interest_detail=service.interests.error,
    )


# ---------------------------------------------------------------- errors and limits

def _validation_message(errors) -> str:
    parts = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[0] in ("query", "body", "path", "header"):
            loc = loc[1:]  # where the field came from adds nothing to the message
        field, message = ".".join(loc), str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{field}: {message}" if field and not message.startswith(field) else message)
    return "; ".join(parts)


async def _request_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # one readable message; the inputs are not echoed back (a 2 MB body would come back in the error)
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
    return JSONResponse({"detail": _validation_message(exc.errors()), "errors": errors}, status_code=422)


async def _value_error(request: Request, exc: ValueError) -> JSONResponse:
    if isinstance(exc, ValidationError):  # a pydantic error raised by our own code is a bug, not bad input
        log.error("internal validation error on %s: %s", request.url.path, exc)
        return JSONResponse({"detail": "internal error"}, status_code=500)
    return JSONResponse({"detail": str(exc)}, status_code=422)  # the retriever refuses bad arguments this way


async def _retriever_error(request: Request, exc: RetrieverError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=503)


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` with a JSON 413, before the app parses anything.

    Checks Content-Length first, then counts the bytes actually received (the header can be absent, with
    chunked transfer encoding, or lie). The body is buffered (at most max_bytes) and replayed to the app."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def _too_large(self, scope, receive, send) -> None:
        message = f"request body too large: at most {self.max_bytes:,} bytes ({self.max_bytes // 2**20} MB)"
        await JSONResponse({"detail": message}, status_code=413, headers={"Connection": "close"})(scope, receive, send)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    if int(value) > self.max_bytes:
                        return await self._too_large(scope, receive, send)
                except ValueError:
                    pass  # the server rejects a malformed header; the byte count below still holds
        body, total = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see that
                replay = [message]
                break
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                return await self._too_large(scope, receive, send)
            body.append(chunk)
            if not message.get("more_body", False):
                replay = [{"type": "http.request", "body": b"".join(body), "more_body": False}]
                break

        async def replay_receive():
            return replay.pop() if replay else await receive()

        await self.app(scope, replay_receive, send)


# ---------------------------------------------------------------- the app

def _refresh_seconds_from_env() -> float:
    value = os.environ.get("SEARCH_REFRESH_SECONDS", "")
    try:
        seconds = float(value) if value.strip() else DEFAULT_REFRESH_SECONDS
    except ValueError:
        raise ValueError(f"SEARCH_REFRESH_SECONDS={value!r}: expected a number of seconds") from None
    return seconds


def create_app(
    published_path: Path | None = None,
    model: ModelSpec | None = None,
    refresh_seconds: float | None = None,
) -> FastAPI:
    """The service over `published_path` (default: PUBLISHED_PATH) with `model` (default: EMBEDDING_MODEL).

    Nothing is loaded here, so importing the module never fails for want of an index; the model and the index
    load in the lifespan handler, before the first request is accepted."""
    settings = Settings.from_env()
    refresh_seconds = _refresh_seconds_from_env() if refresh_seconds is None else float(refresh_seconds)
    if not refresh_seconds > 0:
        raise ValueError(f"refresh interval must be positive, got {refresh_seconds}")
    service = SearchService(
        Path(published_path) if published_path is not None else settings.published_path,
        settings.embedding_spec if model is None else (lambda: model),
        refresh_seconds,
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
    app.include_router(router)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(ValueError, _value_error)
    app.add_exception_handler(RetrieverError, _retriever_error)
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    return app


app = create_app()
