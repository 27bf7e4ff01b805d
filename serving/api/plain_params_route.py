"""`PlainParamsRoute`: an APIRoute for a hot endpoint whose only inputs are path and query scalars.

FastAPI resolves an endpoint's parameters per request through its general dependency machinery (sub-dependencies,
parameter models, sequences, aliases, forms), and for GET /interests that machinery was most of the in-process
cost (cProfile: `solve_dependencies` 43% of the app's time; docs/benchmarks.md, "The service under load"). This
route validates each declared path and query parameter with the very field FastAPI builds from the endpoint's
signature (same pydantic validator, same error types and locations, so the 422s are FastAPI's), then calls the
endpoint. The OpenAPI document is unchanged: it is generated from the same declarations.

It takes only what it can do exactly: path and query parameters of scalar types and the `Request`; an endpoint
with dependencies, headers, cookies, a body or a list-valued parameter is refused when the route is created.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

SCALARS = (int, float, str, bool)


class PlainParamsRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        dependant = self.dependant
        unsupported = [kind for kind, present in (
            ("dependencies", dependant.dependencies), ("header parameters", dependant.header_params),
            ("cookie parameters", dependant.cookie_params), ("a body", dependant.body_params),
        ) if present]
        fields = [("path", field) for field in dependant.path_params] + \
                 [("query", field) for field in dependant.query_params]
        unsupported += [f"{field.name} ({field.field_info.annotation})" for _, field in fields
                        if field.field_info.annotation not in SCALARS]
        if unsupported or not inspect.iscoroutinefunction(dependant.call):
            raise TypeError(f"{self.path}: PlainParamsRoute takes an async endpoint with scalar path and query "
                            f"parameters only, not {', '.join(unsupported) or 'a sync function'}")
        endpoint, request_name = dependant.call, dependant.request_param_name
        # (where, alias, field, default): defaults are scalars, so no copy per request (FastAPI deep-copies them)
        params = [(where, field.alias, field, field.get_default()) for where, field in fields]

        async def handler(request: Request) -> Response:
            values: dict[str, Any] = {}
            errors: list[dict[str, Any]] = []
            path_params, query_params = request.path_params, request.query_params
            for where, alias, field, default in params:
                raw = (path_params if where == "path" else query_params).get(alias)
                if raw is None:
                    if field.field_info.is_required():
                        errors.append({"type": "missing", "loc": (where, alias), "msg": "Field required",
                                       "input": None})
                        continue
                    if not field.field_info.validate_default:
                        values[field.name] = default
                        continue
                    raw = default
                value, field_errors = field.validate(raw, values, loc=(where, alias))
                if field_errors:
                    errors.extend(field_errors)
                else:
                    values[field.name] = value
            if errors:
                raise RequestValidationError(errors)
            if request_name:
                values[request_name] = request
            return await endpoint(**values)

        return handler
