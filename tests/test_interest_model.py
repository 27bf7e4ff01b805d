"""The interest model trained on the committed sample: beats its baselines, gives real probabilities, and its
artifact is versioned by its inputs, loads back identically and refuses another embedding model."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ingestion.settings import PROJECT_ROOT
from tests.conftest import model
from training.interests import (
    EmbeddingModelMismatch,
    InterestDataError,
    InterestModel,
    TrainConfig,
    artifact_version,
    load_interest_data,
    main,
    train,
    user_features,
)

SAMPLE = PROJECT_ROOT / "sample_data" / "interests"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One training run on the sample with the real (packaged) encoder, into a scratch artifacts folder."""
    return train(SAMPLE, tmp_path_factory.mktemp("artifacts"), model(), echo=lambda _: None)


def method(run, name: str) -> dict:
    return run.metrics["methods"][name]


def test_model_beats_both_baselines_on_precision_at_10(run):
    model = method(run, "model")["precision@10"]
    assert model > method(run, "popularity")["precision@10"]
    assert model > method(run, "cosine")["precision@10"]
    assert run.metrics["split"]["test"] == len(run.test_handles) > 100


def test_probabilities_are_probabilities_and_beat_popularity_on_brier(run):
    p = run.model.predict(run.test_features)
    assert p.shape == (len(run.test_handles), len(run.model.interest_ids))
    assert np.all((p >= 0) & (p <= 1))
    assert method(run, "model")["brier"] < method(run, "popularity")["brier"]


@pytest.mark.parametrize("name", ["model", "popularity", "cosine"])
def test_reliability_counts_cover_every_cell(run, name):
    metrics = method(run, name)
    cells = len(run.test_handles) * len(run.model.interest_ids)
    assert metrics["cells"] == cells
    assert sum(row["count"] for row in metrics["reliability"]) == cells
    assert len(metrics["reliability"]) == 10 and 0 <= metrics["ece"] <= 1


def test_same_data_gives_the_same_version(run, tmp_path):
    copy = tmp_path / "elsewhere"
    shutil.copytree(SAMPLE, copy)  # the folder's location is not part of the version
    hashes = load_interest_data(copy).file_hashes
    assert artifact_version(hashes, TrainConfig(), run.model.embedding_model_id) == run.version
    assert artifact_version(hashes, TrainConfig(epochs=61), run.model.embedding_model_id) != run.version
    assert artifact_version(hashes, TrainConfig(), "other@000000000000") != run.version
    assert run.path.name == run.version
    assert (run.path.parent / "LATEST").read_text().strip() == run.version


def test_artifact_files(run):
    for name in ("model.pt", "catalogue.json", "cold_start.json", "metrics.json", "metrics.md", "training.json"):
        assert (run.path / name).is_file(), name
    training = json.loads((run.path / "training.json").read_text())
    assert set(training["files_sha256"]) == {"users.csv", "interests.csv", "user_activity.csv"}
    assert training["embedding_model_id"] == run.model.embedding_model_id
    assert "| model |" in (run.path / "metrics.md").read_text()


def test_save_load_round_trip_gives_identical_predictions(run):
    loaded = InterestModel.load(run.path)
    assert np.array_equal(loaded.predict(run.test_features), run.model.predict(run.test_features))
    assert loaded.version == run.version and loaded.interest_ids == run.model.interest_ids
    assert loaded.labels == run.model.labels
    # the interests folder: its LATEST version
    latest = InterestModel.load(run.path.parent, embedding_model_id=run.model.embedding_model_id)
    assert latest.version == run.version
    assert np.array_equal(latest.cold_start("B2B"), run.model.cold_start("B2B"))


def test_cold_start_differs_by_user_type(run):
    b2b, b2c = run.model.cold_start("B2B"), run.model.cold_start("B2C")
    assert b2b.shape == b2c.shape == (len(run.model.interest_ids),)
    assert np.all((b2b >= 0) & (b2b <= 1)) and np.all((b2c >= 0) & (b2c <= 1))
    assert not np.allclose(b2b, b2c)
    with pytest.raises(ValueError, match="user type"):
        run.model.cold_start("B2X")


def test_another_embedding_model_is_refused(run):
    run.model.check_embedding_model(run.model.embedding_model_id)
    with pytest.raises(EmbeddingModelMismatch, match="other"):
        run.model.check_embedding_model("other")
    with pytest.raises(EmbeddingModelMismatch):
        InterestModel.load(run.path, embedding_model_id="other")


def test_user_features_mean_renormalised_plus_type():
    a, b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    features = user_features([np.stack([a, b]), np.zeros((0, 3))], ["B2C", "B2B"])
    np.testing.assert_allclose(features[0], [2 ** -0.5, 2 ** -0.5, 0, 0, 1], rtol=1e-6)
    np.testing.assert_allclose(features[1], [0, 0, 0, 1, 0])
    with pytest.raises(ValueError, match="user type"):
        user_features([np.stack([a])], ["B2X"])


def write_folder(folder: Path, bad_row: list[str]) -> Path:
    """The sample's users and interests, an activity file of one good row then bad_row (line 3)."""
    folder.mkdir()
    for name in ("users.csv", "interests.csv"):
        shutil.copy(SAMPLE / name, folder / name)
    with (SAMPLE / "user_activity.csv").open(newline="", encoding="utf-8") as handle:
        header, good = list(csv.reader(handle))[:2]
    with (folder / "user_activity.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, good, bad_row])
    return folder


def sample_user_and_interest() -> tuple[str, str, str]:
    with (SAMPLE / "user_activity.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    row = rows[1]
    return row["USER_HANDLE"], row["USER_TYPE"], json.loads(row["USER_INTERESTS"])[0]


@pytest.mark.parametrize("case, message", [
    ("bad json", "USER_INTERESTS is not valid JSON"),
    ("unknown interest", "unknown interest id"),
    ("unknown user", "activity for unknown user"),
    ("missing column", "expected 4"),
])
def test_malformed_activity_row_names_file_and_line(tmp_path, capsys, case, message):
    handle, kind, interest = sample_user_and_interest()
    row = {
        "bad json": [handle, kind, "A title | Another", f'["{interest}",'],
        "unknown interest": [handle, kind, "A title", '["not-an-interest"]'],
        "unknown user": ["no-such-user", kind, "A title", f'["{interest}"]'],
        "missing column": [handle, kind, "A title"],
    }[case]
    folder = write_folder(tmp_path / "bad", row)
    with pytest.raises(InterestDataError, match=message) as caught:
        load_interest_data(folder)
    assert "user_activity.csv line 3" in str(caught.value)
    # the CLI turns it into exit 1 and a message, before loading any model
    assert main(["--data-dir", str(folder), "--artifacts-dir", str(tmp_path / "artifacts")]) == 1
    assert "user_activity.csv line 3" in capsys.readouterr().err
    assert not (tmp_path / "artifacts").exists()
