"""Dense scores and rankings over one index's rows: `DenseScorer` scores concurrent queries in one pass over the
vectors; a `Ranking` gives a query's best rows, `ScoredRanking` when every row's score is known (in memory)."""

from __future__ import annotations

import threading

import numpy as np

SCORE_BATCH = 16  # queries scored in one pass over the vectors (docs/benchmarks.md, "The service under load")


class DenseScorer:
    """Cosine scores of a query against every vector of one index, concurrent queries scored together.

    One query's matrix-vector product reads every vector (52 MB at 34,000 chunks) for 384 multiply-adds per
    row: memory-bound, and under concurrent searches that read was most of a cached query's time. So a query that
    arrives while a product is running waits for it and is scored in the next one, with whatever else arrived
    meanwhile: one pass over the vectors for up to SCORE_BATCH queries (a matrix product). The thread whose query
    starts a product computes it; when it is done it hands the next one to a waiting query's thread, so nothing
    runs in the background and an idle index costs nothing.

    The product always has SCORE_BATCH columns (unused ones zero), so its shape, and with it the order of every
    sum, never changes: a query's scores are bit-identical whatever it was batched with (tested), and a search
    never depends on concurrent ones. torch, not numpy: numpy's OpenBLAS threads spinning beside the encoder's
    made searches ~6x slower on 2 cores (measured: 67 ms vs 11 ms at 34k vectors)."""

    def __init__(self, vectors: np.ndarray):
        import torch

        self._vectors = torch.from_numpy(vectors)  # shares the index's array
        self._lock = threading.Lock()
        self._waiting: list[_Waiting] = []  # invariant: non-empty only while a product is running
        self._running = False
        self.products = self.queries = 0  # how many products scored how many queries (tests, benchmarks)

    def scores(self, query_vector: np.ndarray) -> np.ndarray:
        waiting = _Waiting(query_vector)
        with self._lock:
            self._waiting.append(waiting)
            leading, self._running = not self._running, True
        if not leading:
            waiting.done.wait()
            leading = waiting.scores is None and waiting.error is None  # woken without scores: handed the lead
        if leading:
            self._score_waiting()  # this query is among the batch it computes
        if waiting.error is not None:
            raise waiting.error
        return waiting.scores

    def _score_waiting(self) -> None:
        import torch

        with self._lock:
            batch, self._waiting = self._waiting[:SCORE_BATCH], self._waiting[SCORE_BATCH:]
            self.products, self.queries = self.products + 1, self.queries + len(batch)
        try:
            queries = torch.zeros((self._vectors.shape[1], SCORE_BATCH), dtype=torch.float32)
            for column, waiting in enumerate(batch):
                queries[:, column] = torch.tensor(waiting.vector, dtype=torch.float32)  # a copy: may be read-only
            scores = torch.mm(self._vectors, queries).T.contiguous().numpy()  # (SCORE_BATCH, chunks)
            for row, waiting in enumerate(batch):
                waiting.scores = scores[row]
        except BaseException as exc:  # every query of the batch gets the error, not only this thread's
            for waiting in batch:
                waiting.error = exc
        finally:
            with self._lock:
                successor = self._waiting[0] if self._waiting else None
                self._running = successor is not None
            for waiting in batch:
                waiting.done.set()
            if successor is not None:
                successor.done.set()  # with no scores: it computes the next product


class _Waiting:
    __slots__ = ("vector", "scores", "error", "done")

    def __init__(self, vector: np.ndarray):
        self.vector = vector
        self.scores: np.ndarray | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


class Ranking:
    """Chunks of one index in the order of one query's scores: `top(count)` gives the best `count` allowed chunks
    (row numbers of the index) and their scores, best first; `allowed` is how many chunks the filters allow."""

    allowed: int

    def top(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class ScoredRanking(Ranking):
    """Every chunk's score known (in memory): exact."""

    def __init__(self, scores: np.ndarray, mask: np.ndarray | None):
        self.scores, self.mask = scores, mask
        self.allowed = len(scores) if mask is None else int(mask.sum())

    def top(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        chunks = _top(self.scores, self.mask, count)
        return chunks, self.scores[chunks]


def _top(scores: np.ndarray, mask: np.ndarray | None, count: int) -> np.ndarray:
    """Indices of the best `count` allowed scores, best first (ties by index, so rankings are reproducible)."""
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    count = min(count, len(scores))
    if count <= 0:
        return np.zeros(0, np.int64)
    candidates = np.argpartition(-scores, count - 1)[:count] if count < len(scores) else np.arange(len(scores))
    order = np.lexsort((candidates, -scores[candidates]))
    best = candidates[order]
    return best[np.isfinite(scores[best])]
