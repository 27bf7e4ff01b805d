"""The state behind every endpoint: the configured embedding model, the Retriever over the published index and
the interest scores, kept fresh by one background thread.

Nothing here reads the environment: the app factory (serving.api.create_app) resolves the settings once and
passes in the published path, a model resolver, the refresh interval and the search backend (with, for
`postgres`, a resolver of the server).
"""

from __future__ import annotations

import gc
import logging
import threading
from pathlib import Path
from typing import Callable

from embeddings.encoders import encode_texts, load_encoder
from embeddings.model_source import ModelSpec
from pipeline.snapshot import PublishedSnapshot
from search.results import RetrieverError
from search.retriever import Retriever, index_key
from serving.interests import InterestStore

log = logging.getLogger(__name__)


class SearchService:
    """The configured model and the Retriever over the published file, kept fresh by a background thread."""

    def __init__(
        self,
        published_path: Path,
        resolve_model: Callable[[], ModelSpec],
        refresh_seconds: float,
        backend: str = "memory",
        postgres: Callable[[], object] | None = None,
    ):
        self.published_path = published_path
        self.resolve_model = resolve_model  # deferred to start(): a bad model source fails the start, not the import
        self.refresh_seconds = refresh_seconds
        self.backend = backend  # where searches run (search.retriever): memory, or postgres
        self.resolve_postgres = postgres  # postgres: the server (started if local), resolved in start() too
        self.index_location: object = published_path  # what the Retriever searches: the copy, or the server
        self.model: ModelSpec | None = None
        # a new publication (postgres: a new build of search_chunks) gets a new Retriever, built off the request
        # path and swapped in once fully loaded; `retriever.error` says why the last load failed
        self.retriever: PublishedSnapshot[Retriever] = PublishedSnapshot(
            self._open_retriever, "search index", key=index_key(backend)
        )
        self.interests = InterestStore()  # user_interest_scores of the same published file
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _open_retriever(self, location) -> Retriever:
        if self.backend == "postgres":
            return Retriever(model=self.model, backend="postgres", postgres=location)
        return Retriever(location, model=self.model, backend="memory")

    def start(self) -> None:
        """Load the model (find_similar needs it even without an index) and the index, then start refreshing."""
        self.model = self.resolve_model()
        if self.backend == "postgres":
            self.index_location = self.resolve_postgres()
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
        """Load a newly published file, if any. Never raises: a bad copy (another model's vectors, a broken
        file) is logged and reported by /health, the previous snapshot keeps serving, and that same file is not
        reloaded every tick. The interest scores are loaded on their own (a search index that cannot be served
        does not stop them)."""
        loaded = self.interests.refresh(self.published_path)  # the interest scores: the published copy, either backend
        loaded = self.retriever.refresh(self.index_location) or loaded
        if loaded:
            # what was just loaded lives until the next publication: out of the cyclic collector's full passes,
            # which otherwise walked it and were GET /interests' slowest answers under load (max 138-145 -> 24-54 ms,
            # docs/benchmarks.md); refcounting still frees a replaced snapshot
            gc.freeze()

    def require_retriever(self) -> Retriever:
        retriever = self.retriever.current
        if retriever is None:
            if self.retriever.error:
                raise RetrieverError(
                    f"the published index at {self.index_location} cannot be served: {self.retriever.error}"
                )
            if self.backend == "postgres":
                raise RetrieverError(
                    f"no search_chunks on {self.index_location}: build it (DBT_TARGET=postgres make run)"
                )
            raise RetrieverError(
                f"no published index at {self.published_path}: run `make run` (land, dbt build, publish)"
            )
        return retriever

    def require_model(self) -> ModelSpec:
        if self.model is None:  # only before startup finished
            raise RetrieverError("the embedding model is not loaded yet")
        return self.model
