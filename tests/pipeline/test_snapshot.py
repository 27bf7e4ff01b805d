"""pipeline.snapshot.PublishedSnapshot, the one refresh logic of the search index, the Retriever the service
answers with and the interest scores: over a small text file published the way pipeline.publish publishes
(a new file renamed over the old one), with a loader that counts its reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.snapshot import NothingPublished, PublishedSnapshot


class Loader:
    """Reads the file's text; "bad" fails like a broken copy, "" is a copy with nothing for this loader."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self, path: Path) -> str:
        self.reads += 1
        text = path.read_text()
        if text == "bad":
            raise ValueError(f"{path} is broken")
        if not text:
            raise NothingPublished(f"{path} holds nothing")
        return text


class Publisher:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0

    def __call__(self, text: str) -> None:
        # a new file renamed over the old one, with its own mtime: each publication has its own key even when
        # the file system reuses the old file's inode
        self.count += 1
        staging = self.path.with_name(f".{self.path.name}.tmp")
        staging.write_text(text)
        os.utime(staging, ns=(self.count * 10**9, self.count * 10**9))
        os.replace(staging, self.path)


@pytest.fixture
def published(tmp_path: Path) -> Publisher:
    return Publisher(tmp_path / "published.txt")


def test_refresh_loads_a_new_publication_once(published):
    loader = Loader()
    snapshot = PublishedSnapshot(loader, "test value")
    assert snapshot.refresh(published.path) is False  # nothing published yet
    assert (snapshot.current, snapshot.error, loader.reads) == (None, None, 0)

    published("first")
    assert snapshot.refresh(published.path) is True
    assert snapshot.current == "first"
    assert snapshot.refresh(published.path) is False and loader.reads == 1  # the same copy is not read again

    published("second")
    assert snapshot.refresh(published.path) is True
    assert (snapshot.current, loader.reads) == ("second", 2)


@pytest.mark.parametrize(
    ("failing", "served_after", "why"),
    [
        ("bad", "good", "is broken"),  # a copy that cannot be read: the old snapshot keeps serving
        ("", None, "holds nothing"),  # a copy with nothing for this loader: the old snapshot is dropped
    ],
)
def test_a_failed_copy_is_reported_and_not_read_every_tick(published, failing, served_after, why):
    loader = Loader()
    snapshot = PublishedSnapshot(loader, "test value")
    published("good")
    snapshot.refresh(published.path)

    published(failing)
    assert snapshot.refresh(published.path) is False  # never raises
    assert snapshot.current == served_after and why in snapshot.error
    reads = loader.reads
    assert snapshot.refresh(published.path) is False
    assert loader.reads == reads and why in snapshot.error

    published("fixed")
    assert snapshot.refresh(published.path) is True
    assert (snapshot.current, snapshot.error) == ("fixed", None)


def test_a_vanished_copy_keeps_the_snapshot(published):
    snapshot = PublishedSnapshot(Loader(), "test value")
    published("kept")
    snapshot.refresh(published.path)
    published.path.unlink()
    assert snapshot.refresh(published.path) is False
    assert (snapshot.current, snapshot.error) == ("kept", None)


def test_load_and_reload_if_changed_raise_and_keep_the_old_snapshot(published):
    loader = Loader()
    snapshot = PublishedSnapshot(loader, "test value")
    with pytest.raises(FileNotFoundError):
        snapshot.load(published.path)
    published("first")
    assert snapshot.load(published.path) == "first"
    assert snapshot.reload_if_changed(published.path) is False

    published("bad")
    for _ in range(2):  # a caller that asks again is told again (only refresh() remembers failures)
        with pytest.raises(ValueError, match="is broken"):
            snapshot.reload_if_changed(published.path)
    assert snapshot.current == "first" and snapshot.error is None
    with pytest.raises(ValueError, match="is broken"):
        snapshot.load(published.path)
    assert snapshot.current == "first"
