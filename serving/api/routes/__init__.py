"""The service's endpoints, one router per resource, gathered in `ROUTES` in the order /docs lists them.

The app takes the routes themselves (`app.router.routes.extend(ROUTES)`), not the routers: FastAPI 0.165 keeps an
included router as a nested router that every request descends into, and that matching was a quarter of the
in-process cost of a GET /interests (cProfile over 2,000 requests: 1.35 s nested, 1.03 s flat)."""

from serving.api.routes import documents, find_similar, health, interests, search

ROUTES = [
    route for resource in (search, find_similar, documents, interests, health) for route in resource.router.routes
]
