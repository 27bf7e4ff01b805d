"""How the service answers what it cannot serve: one JSON `{"detail": ...}` body for every error.

422 for bad input (request validation, a body that is not JSON or not UTF-8, and the retriever's ValueErrors),
503 when no published index can be served (RetrieverError), a 500 without details for a pydantic error raised by
the service's own code, and 413 for a request body over MAX_BODY_BYTES, refused by BodyLimitMiddleware before
anything is parsed.
`add_error_handling(app)` installs all of them; the `responses=` dicts document them in OpenAPI.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from search.results import RetrieverError
from serving.api.schemas import ErrorResponse

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2 * 1024 * 1024  # bounds the parsing; refused before any (serving.api.budget bounds the encoding)

ERRORS = {422: {"model": ErrorResponse, "description": "Invalid input"}}
NEEDS_INDEX = {**ERRORS, 503: {"model": ErrorResponse, "description": "No published index can be served yet"}}


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


async def _http_error(request: Request, exc: StarletteHTTPException):
    # FastAPI answers 400 "There was an error parsing the body" when the body cannot even be decoded (not UTF-8:
    # a ValueError, where malformed JSON is its own 422); docs/service.md and the OpenAPI document promise 422 for any
    # body that is not the request's JSON
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        return JSONResponse({"detail": f"body: not JSON in UTF-8 ({exc.__cause__})"}, status_code=422)
    return await http_exception_handler(request, exc)


async def _value_error(request: Request, exc: ValueError) -> JSONResponse:
    if isinstance(exc, ValidationError):  # a pydantic error raised by our own code is a bug, not bad input
        # where and what kind, never the values: they can be document text (request logs carry none)
        log.error(
            "internal validation error on %s: %s",
            request.url.path,
            exc.errors(include_input=False, include_url=False, include_context=False),
        )
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


def add_error_handling(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ValueError, _value_error)
    app.add_exception_handler(RetrieverError, _retriever_error)
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
