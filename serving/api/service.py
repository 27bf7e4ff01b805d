"""The state behind every endpoint: the configured embedding model, the Retriever over the published index and
the interest scores, kept fresh by one background thread.

Nothing here reads the environment: the app factory (serving.api.create_app) resolves the settings once and
passes in the published path, a model resolver and the refresh interval.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

from ingestion.embedding import encode_texts, load_encoder
from ingestion.model_source import ModelSpec
from serving.interests import InterestStore
from serving.retriever import Retriever, RetrieverError
from serving.snapshot import PublishedSnapshot

log = logging.getLogger(__name__)


class SearchService:
    """The configured model and the Retriever over the published file, kept fresh by a background thread."""

    def __init__(self, published_path: Path, resolve_model: Callable[[], ModelSpec], refresh_seconds: float):
        self.published_path = published_path
        self.resolve_model = resolve_model  # deferred to start(): a bad model source fails the start, not the import
        self.refresh_seconds = refresh_seconds
        self.model: ModelSpec | None = None
        # a new publication gets a new Retriever, built off the request path and swapped in once fully loaded;
        # `retriever.error` says why the last load failed
        self.retriever: PublishedSnapshot[Retriever] = PublishedSnapshot(self._open_retriever, "search index")
        self.interests = InterestStore()  # user_interest_scores of the same published file
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _open_retriever(self, published_path: Path) -> Retriever:
        return Retriever(published_path, model=self.model)

    def start(self) -> None:
        """Load the model (find_similar needs it even without an index) and the index, then start refreshing."""
        self.model = self.resolve_model()
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
        self.interests.refresh(self.published_path)
        self.retriever.refresh(self.published_path)

    def require_retriever(self) -> Retriever:
        retriever = self.retriever.current
        if retriever is None:
            if self.retriever.error:
                raise RetrieverError(
                    f"the published index at {self.published_path} cannot be served: {self.retriever.error}"
                )
            raise RetrieverError(
                f"no published index at {self.published_path}: run `make run` (land, dbt build, publish)"
            )
        return retriever

    def require_model(self) -> ModelSpec:
        if self.model is None:  # only before startup finished
            raise RetrieverError("the embedding model is not loaded yet")
        return self.model
