"""What the request log keeps: client, method, path and status, never the query string.

uvicorn's access log writes each request line whole, and a search's text travels in its query string
(`/search?q=...`): users' texts do not belong in logs. Bodies (find_similar's documents) are never logged.
`quiet_query_strings()` installs, once per process, a filter on the `uvicorn.access` logger that drops the query
string from the path it is about to write (the record keeps its shape, so any formatter still works)."""

from __future__ import annotations

import logging

ACCESS_LOGGER = "uvicorn.access"


class DropQueryString(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn's access record: (client, method, path with query string, http version, status)
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (args[0], args[1], args[2].split("?", 1)[0] + "?<query omitted>", *args[3:])
        return True


def quiet_query_strings() -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(existing, DropQueryString) for existing in logger.filters):
        logger.addFilter(DropQueryString())
