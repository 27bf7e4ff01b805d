"""`InterestsFastPath`: `GET /interests/{user_handle}` with no query parameters, answered without the framework.

Why: under 50 connections on 2 cores the workers were the whole machine, and FastAPI's exception middleware,
routing and parameter handling were about half of each request's CPU; the p99 bar (10 ms) held in one run of
three (docs/benchmarks.md, "The service under load"). The common request, a known user with the default limit and
threshold, is a dict lookup and a body the route builds the same way (`interests_body`), so this middleware answers
it itself and hands every other request to the app untouched: any query string, a malformed or unknown handle, no
scores loaded yet, another method or path. The app then answers as it always does (422, 404, 503, ...), so the
rules live in one place. It sits inside the authentication middleware: a protected service checks the token first.
"""

from __future__ import annotations

from serving.api.routes.interests import interests_body
from serving.interests import DEFAULT_LIMIT, HANDLE_PATTERN, InterestStore

PREFIX = "/interests/"


class InterestsFastPath:
    def __init__(self, app, store: InterestStore):
        self.app = app
        self.store = store

    async def __call__(self, scope, receive, send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and not scope["query_string"]
            and not scope.get("root_path")
            and scope["path"].startswith(PREFIX)
        ):
            handle = scope["path"][len(PREFIX) :]
            snapshot = self.store.snapshot
            found = (
                snapshot.lookup(handle, DEFAULT_LIMIT, 0.0)
                if snapshot is not None and HANDLE_PATTERN.fullmatch(handle)
                else None
            )
            if found is not None:
                body = interests_body(found)
                # the headers Starlette's Response(body, media_type="application/json") sends
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-length", str(len(body)).encode()),
                            (b"content-type", b"application/json"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
