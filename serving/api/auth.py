"""Who may call the service: with API_TOKEN set, every request but `GET /health` must carry
`Authorization: Bearer <API_TOKEN>`; without it, or with another token, the answer is 401 and nothing else runs.

The service binds to loopback by default (`make serve`) and needs no token there; deployed anywhere else, set one.
The comparison is constant-time (hmac.compare_digest), the token is never logged or echoed, and the OpenAPI
document declares the scheme and the 401 on every protected operation, so the contract says what is enforced.
"""

from __future__ import annotations

import hmac

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from serving.api.schemas import ErrorResponse

OPEN_PATHS = frozenset({"/health"})  # liveness probes carry no credentials
SCHEME = "bearerToken"


class BearerTokenMiddleware:
    """Refuse a request without the right bearer token with a JSON 401 before the app sees it."""

    def __init__(self, app, token: str):
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        given = next((value for name, value in scope.get("headers", ()) if name == b"authorization"), b"")
        if hmac.compare_digest(given, self.expected):
            return await self.app(scope, receive, send)
        detail = (
            "missing bearer token: send `Authorization: Bearer <API_TOKEN>`" if not given else "invalid bearer token"
        )
        response = JSONResponse({"detail": detail}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


def add_authentication(app: FastAPI, token: str | None) -> None:
    """Require `token` on every path but OPEN_PATHS, and say so in the OpenAPI document; nothing when None."""
    if token is None:
        return
    app.add_middleware(BearerTokenMiddleware, token=token)
    build_schema = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build_schema()
            schema.setdefault("components", {}).setdefault("securitySchemes", {})[SCHEME] = {
                "type": "http",
                "scheme": "bearer",
                "description": "API_TOKEN, required when the service sets one",
            }
            unauthorized = {
                "description": "Missing or invalid bearer token",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
            }
            schema["components"].setdefault("schemas", {}).setdefault(
                "ErrorResponse", ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
            )
            for path, operations in schema.get("paths", {}).items():
                if path in OPEN_PATHS:
                    continue
                for operation in operations.values():
                    operation["security"] = [{SCHEME: []}]
                    operation.setdefault("responses", {})["401"] = unauthorized
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
