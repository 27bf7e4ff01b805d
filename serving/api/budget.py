"""What one request may cost, and find_similar's work kept within it.

Every endpoint's work is bounded by its input's limits (the OpenAPI document states each one):
- GET /search: a query of at most 2,000 characters (the model reads its first 256 tokens) and k <= 100: one
  query encoded, one pass over the index's vectors, BM25 over the query's terms, at most 100 results.
- POST /find_similar: at most `Budget.max_tokens` tokens to encode (the query and every document, cut into the
  model's windows; a long text's overlapping windows count whole), at most 1,000 documents of 20,000 characters
  and a 2 MB body. Over the tokens: 413, decided while tokenizing (it stops at the first text past the budget),
  before anything is encoded. The windows are then encoded a few at a time; between two batches the work stops
  when the client has gone away or the request's deadline (`Budget.deadline_seconds`) has passed (then 503).
- GET /documents/{doc_id}/chunks: one document's chunks, as many as that document has in the published index.
- GET /interests/{user_handle}: a dict lookup and at most 100 interests.
The measured worst cases are in docs/service.md ("What one request may cost").
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

import anyio
import numpy as np

from embeddings.chunking import text_windows
from embeddings.encoders import encode_texts
from embeddings.model_source import ModelSpec

log = logging.getLogger(__name__)

MAX_TOKENS = 16_384  # ~65 full windows, or 1,000 texts of 16 tokens: a few seconds on 2 cores (docs/service.md)
DEADLINE_SECONDS = 20.0  # a request within the budget takes a few seconds; this is for an overloaded machine
# encoded between two checks for a gone client or a passed deadline: a fraction of a second of work
BATCH_TOKENS = 2_048
BATCH_WINDOWS = 64


@dataclass(frozen=True)
class Budget:
    """The limits of one find_similar request (create_app passes them down; tests use a short deadline)."""

    max_tokens: int = MAX_TOKENS
    deadline_seconds: float = DEADLINE_SECONDS


class OverBudget(Exception):
    """More tokens to encode than the budget allows (413)."""


class Stopped(Exception):
    """The work stopped before the end: the deadline passed, or the client went away (503)."""


@dataclass(frozen=True)
class Windows:
    texts: list[str]  # each window's text
    owners: np.ndarray  # per window, the index of the text it belongs to
    tokens: list[int]  # per window, its token count


def windows_within(model: ModelSpec, texts: list[str], max_tokens: int) -> Windows:
    """Every text cut into the model's windows, refused (OverBudget) as soon as their tokens pass `max_tokens`."""
    pieces, owners, tokens, total = [], [], [], 0
    for owner, piece, count in text_windows(model, texts):
        total += count
        if total > max_tokens:
            raise OverBudget(
                f"too much text to encode: more than {max_tokens:,} tokens (the query and documents reached "
                f"{total:,} by text {owner + 1} of {len(texts)}); send fewer or shorter documents"
            )
        pieces.append(piece)
        owners.append(owner)
        tokens.append(count)
    return Windows(pieces, np.asarray(owners, dtype=np.int64), tokens)


def batches(tokens: list[int]) -> list[slice]:
    """Consecutive windows, at most BATCH_TOKENS tokens (one longer window alone) or BATCH_WINDOWS windows each."""
    spans, start, held = [], 0, 0
    for end, count in enumerate(tokens):
        if end > start and (held + count > BATCH_TOKENS or end - start == BATCH_WINDOWS):
            spans.append(slice(start, end))
            start, held = end, 0
        held += count
    if start < len(tokens):
        spans.append(slice(start, len(tokens)))
    return spans


async def encode_until_stopped(
    model: ModelSpec, windows: Windows, deadline: float, client_gone: Callable[[], Awaitable[bool]]
) -> np.ndarray:
    """Encode the windows batch by batch (each in a worker thread, so the event loop stays free); before each
    batch, stop (Stopped) when `client_gone()` or time.monotonic() has passed `deadline`. The stop is logged
    with how far the work got: no text, only counts."""
    parts, done = [], 0
    for span in batches(windows.tokens):
        reason = None
        if await client_gone():
            reason = "the client went away"
        elif time.monotonic() > deadline:
            reason = "its deadline passed"
        if reason:
            log.warning("find_similar stopped after encoding %d of %d windows: %s", done, len(windows.texts), reason)
            raise Stopped(
                f"find_similar stopped after encoding {done:,} of {len(windows.texts):,} windows: {reason} "
                "(the service is busy: try again, or send less text)"
            )
        parts.append(await anyio.to_thread.run_sync(lambda: encode_texts(model, windows.texts[span], progress=False)))
        done = span.stop
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
