"""GET /interests/{user_handle}: a user's most likely interests, from the in-memory interest scores."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi import Path as PathParam

from serving.api.schemas import ErrorResponse, UserInterestsResponse
from serving.interests import DEFAULT_LIMIT, HANDLE_PATTERN, HANDLE_RULE, MAX_LIMIT, UserInterests, validate_handle

# the service's hottest endpoint: its common request (the defaults) never gets here, serving.api.fast_path answers
# it; the Request rather than the ServiceDep dependency, one dependency fewer for the others
router = APIRouter()


@router.get(
    "/interests/{user_handle:path}",
    response_model=UserInterestsResponse,
    responses={
        422: {"model": ErrorResponse, "description": "Malformed handle, limit or min_probability"},
        404: {"model": ErrorResponse, "description": "No such user in the published interest scores"},
        503: {"model": ErrorResponse, "description": "No published interest scores can be served yet"},
    },
    summary="A user's most likely interests",
)
async def user_interests(
    request: Request,
    user_handle: Annotated[
        str,
        PathParam(
            description=f"The user's handle: {HANDLE_RULE}",
            json_schema_extra={"pattern": f"^{HANDLE_PATTERN.pattern}$"},
        ),
    ],
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"At most this many interests (1-{MAX_LIMIT})")
    ] = DEFAULT_LIMIT,
    min_probability: Annotated[
        float,
        Query(
            ge=0,
            le=1,
            allow_inf_nan=False,
            description="Only interests with a probability at or above this (0-1); may return fewer than `limit`",
        ),
    ] = 0.0,
) -> Response:
    """The user's interests from the published `user_interest_scores` mart (scored by the interest model at
    `dbt build`), most likely first. Users without activity (`cold_start`) get their type's prior, so every
    known user has interests. Answered from memory: a dict lookup and a slice, no SQL and no model per request
    (hence `async`: nothing here blocks).

    The body is serialised here, not by FastAPI from `UserInterestsResponse` (which stays the documented
    schema): building and re-validating models from a snapshot that was checked when it was loaded is work on
    every request that buys nothing (the route's share of the cost under load: docs/benchmarks.md, "The service
    under load"); tests/serving/test_interests_api.py reads every body back through the schema."""
    try:
        validate_handle(user_handle)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    service = request.app.state.service
    store = service.interests
    snapshot = store.snapshot  # one snapshot for this request, even if the refresher swaps it meanwhile
    if snapshot is None:
        if store.error:
            raise HTTPException(
                503, f"the published interest scores at {service.published_path} cannot be served: {store.error}"
            )
        raise HTTPException(
            503, f"no published interest scores at {service.published_path}: run `make run` (land, dbt build, publish)"
        )
    found = snapshot.lookup(user_handle, limit, min_probability)
    if found is None:
        hint = "" if snapshot.size else " (it holds no users: land DATA_DIR/interests/, dbt build and publish)"
        raise HTTPException(404, f"no user {user_handle!r} in the published interest scores{hint}")
    return Response(interests_body(found), media_type="application/json")


def interests_body(found: UserInterests) -> bytes:
    """The JSON body of a 200 (the shape of UserInterestsResponse), also sent by serving.api.fast_path."""
    body = {
        "user_handle": found.user_handle,
        "name": found.name,
        "type": found.user_type,
        "model_version": found.model_version,
        "cold_start": found.cold_start,
        "interests": [
            {"id": interest_id, "label": label, "probability": probability}
            for interest_id, label, probability in zip(found.interest_ids, found.labels, found.probabilities)
        ],
    }
    # FastAPI's own JSON settings; probabilities are finite (the snapshot refuses anything outside [0, 1])
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
