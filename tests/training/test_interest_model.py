"""The interest model trained on a warehouse built from the committed sample: it reads the warehouse only (the
CSV folder is gone when it trains), encodes no title (int_text_embeddings did), beats its baselines, gives real
probabilities, and its artifact is versioned by its inputs, loads back identically and refuses another embedding
model. The mart, built after it as `make run` does, scores with exactly the features training used."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pytest

import training.interests.data as data_module
import training.interests.train as train_module
from core.settings import PROJECT_ROOT
from landing.interests import land_interests
from pipeline.dbt_runner import run_dbt
from tests.support.data import model
from tests.support.warehouses import query
from training.interests.artifacts import artifact_version
from training.interests.cli import SAMPLE_INTERESTS, main
from training.interests.data import land_and_build, read_training_data
from training.interests.features import user_features, user_title_vectors
from training.interests.model import EmbeddingModelMismatch, InterestModel
from training.interests.train import TrainConfig, TrainingRun, train
from warehouse import DuckDBWarehouse
from warehouse.duckdb_file import connect

SAMPLE = PROJECT_ROOT / "sample_data" / "interests"


@dataclass
class Built:
    folder: Path
    data_dir: Path  # where the sample was landed from, deleted before training
    warehouse: DuckDBWarehouse
    run: TrainingRun
    encoded: list[list[str]]  # every text list training encoded


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    """The sample landed and built (dbt encodes its titles), its folder deleted, then one training run with the
    real (packaged) encoder, each of its encode_texts calls recorded."""
    folder = tmp_path_factory.mktemp("interest_model")
    data_dir = folder / "interests"
    shutil.copytree(SAMPLE, data_dir)
    warehouse = DuckDBWarehouse(folder / "warehouse.duckdb")
    land_and_build(data_dir, warehouse, folder / "target")
    shutil.rmtree(data_dir)
    encoded: list[list[str]] = []

    def recording(spec, texts, **kwargs):
        encoded.append(list(texts))
        return encode_texts(spec, texts, **kwargs)

    encode_texts = train_module.encode_texts
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_module, "encode_texts", recording)
        run = train(warehouse, folder / "artifacts", model(), echo=lambda _: None)
    return Built(folder, data_dir, warehouse, run, encoded)


@pytest.fixture(scope="module")
def run(built) -> TrainingRun:
    return built.run


def method(run, name: str) -> dict:
    return run.metrics["methods"][name]


def copy_warehouse(built: Built, folder: Path, *statements: str) -> DuckDBWarehouse:
    copy = DuckDBWarehouse(folder / built.warehouse.path.name)  # same file name: dbt's views refer to the catalog by it
    shutil.copy(built.warehouse, copy)
    with connect(copy) as con:
        for statement in statements:
            con.execute(statement)
    return copy


def test_training_reads_the_warehouse_not_the_csv_files(built):
    assert not built.data_dir.exists()  # the fixture trained after deleting the landed folder
    training = json.loads((built.run.path / "training.json").read_text())
    assert training["warehouse"] == str(built.warehouse)
    assert (training["users"], training["users_with_activity"], training["interests"]) == (2000, 1898, 300)


def test_titles_are_encoded_once_by_int_text_embeddings_and_training_encodes_only_labels(built):
    assert built.encoded == [built.run.model.labels]
    titles, embedded = query(
        built.warehouse,
        """
        select count(distinct titles.title), count(distinct embeddings.content_hash)
        from int_user_activity_titles as titles
        left join int_text_chunks as chunks on chunks.source = 'title' and chunks.text = titles.title
        left join int_text_embeddings as embeddings
            on embeddings.content_hash = chunks.content_hash and embeddings.model_id = chunks.model_id
    """,
    )[0]
    assert titles == embedded > 5000


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


def test_same_data_gives_the_same_version(built, run, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(SAMPLE, elsewhere)  # landed again from another folder: where it came from is not the version
    warehouse = copy_warehouse(built, tmp_path, "delete from raw.landed_files where source = 'interests'")
    with connect(warehouse) as con:
        assert land_interests(con, elsewhere).status == "landed"
        same = read_training_data(con, warehouse).sha256
        con.execute(
            "update raw.interests set label = label || ' (renamed)' where interest_id = "
            "(select min(interest_id) from raw.interests)"
        )
        renamed = read_training_data(con, warehouse).sha256
    model_id = run.model.embedding_model_id
    assert artifact_version(same, TrainConfig(), model_id) == run.version
    assert artifact_version(renamed, TrainConfig(), model_id) != run.version
    assert artifact_version(same, TrainConfig(epochs=61), model_id) != run.version
    assert artifact_version(same, TrainConfig(), "other@000000000000") != run.version
    assert run.path.name == run.version
    assert (run.path.parent / "LATEST").read_text().strip() == run.version


def test_artifact_files(built, run):
    for name in ("model.pt", "catalogue.json", "cold_start.json", "metrics.json", "metrics.md", "training.json"):
        assert (run.path / name).is_file(), name
    training = json.loads((run.path / "training.json").read_text())
    (landed_hash,) = query(built.warehouse, "select content_hash from raw.landed_files where source = 'interests'")[0]
    assert [f["content_hash"] for f in training["landed_files"]] == [landed_hash]
    assert len(training["data_sha256"]) == 64
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


def test_the_mart_scores_with_the_features_training_used(built, run):
    """`make run`'s last dbt step: user_interest_scores reads the title vectors with training's query."""
    python_path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    run_dbt(
        built.warehouse,
        ["build", "--select", "user_interest_scores+"],
        built.folder / "target",
        extra_env={"INTERESTS_MODEL": str(run.path), "PYTHONPATH": python_path},
    )
    handles = run.test_handles[:40]
    rows = query(
        built.warehouse,
        "select user_handle, interest_id, probability, is_cold_start, model_version "
        "from user_interest_scores where list_contains(?, user_handle)",
        [handles],
    )
    got = {(h, i): p for h, i, p, _, _ in rows}
    assert {(cold, version) for _, _, _, cold, version in rows} == {(False, run.version)}
    expected = np.clip(run.model.predict(run.test_features[:40]), 1e-6, 1 - 1e-6)
    mart = np.array([[got[h, i] for i in run.model.interest_ids] for h in handles])
    np.testing.assert_allclose(mart, expected, rtol=1e-6, atol=1e-12)


# ---------------------------------------------------------------- the CLI on other warehouses


@pytest.mark.parametrize(
    "case, statements, message",
    [
        ("no warehouse", None, "no warehouse"),
        ("users, no activity", ["delete from raw.user_activity"], "no user activity to learn from"),
        ("titles not embedded", ["delete from int_text_embeddings"], "int_text_embeddings has no"),
    ],
)
def test_cli_refuses_what_it_cannot_train_on(monkeypatch, built, tmp_path, capsys, case, statements, message):
    warehouse = tmp_path / "none.duckdb" if statements is None else copy_warehouse(built, tmp_path, *statements)
    monkeypatch.setenv("DUCKDB_PATH", str(warehouse))
    assert main(["--artifacts-dir", str(tmp_path / "artifacts")]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "artifacts").exists()


def test_cli_without_users_says_so_and_trains_nothing(monkeypatch, built, tmp_path, capsys):
    warehouse = copy_warehouse(built, tmp_path, "delete from raw.user_activity", "delete from raw.users")
    monkeypatch.setenv("DUCKDB_PATH", str(warehouse))
    assert main(["--artifacts-dir", str(tmp_path / "artifacts")]) == 0
    assert "no users in the warehouse" in capsys.readouterr().out
    assert not (tmp_path / "artifacts").exists()


def test_if_missing_gives_users_without_activity_the_sample_model_once(built, run, tmp_path, monkeypatch, capsys):
    """The real users have no activity: `make run` trains on the sample, landed into a scratch warehouse (here
    the fixture's, which is that), and does nothing the next time."""
    warehouse = copy_warehouse(built, tmp_path, "delete from raw.user_activity", "delete from raw.interests")
    landed = []

    def land_and_build_sample(folder, warehouse, target_path):
        landed.append(folder)
        shutil.copy(built.warehouse, warehouse)

    monkeypatch.setattr(data_module, "land_and_build", land_and_build_sample)
    monkeypatch.setenv("DUCKDB_PATH", str(warehouse))
    args = ["--if-missing", "--artifacts-dir", str(tmp_path / "artifacts")]
    assert main(args) == 0
    assert landed == [SAMPLE_INTERESTS] == [SAMPLE]
    assert (tmp_path / "artifacts" / "interests" / "LATEST").read_text().strip() == run.version
    capsys.readouterr()
    assert main(args) == 0
    assert f"{run.version} (already trained" in capsys.readouterr().out and len(landed) == 1


# ---------------------------------------------------------------- features


def test_user_features_mean_renormalised_plus_type():
    a, b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    features = user_features([np.stack([a, b]), np.zeros((0, 3))], ["B2C", "B2B"])
    np.testing.assert_allclose(features[0], [2**-0.5, 2**-0.5, 0, 0, 1], rtol=1e-6)
    np.testing.assert_allclose(features[1], [0, 0, 0, 1, 0])
    with pytest.raises(ValueError, match="user type"):
        user_features([np.stack([a])], ["B2X"])


def test_user_title_vectors_one_row_per_title_read_of_that_model_only():
    con = duckdb.connect()
    con.execute(
        "create table int_user_activity_titles as select * from (values "
        "('u2', 'b'), ('u1', 'b'), ('u1', 'a'), ('u1', 'a'), ('u3', 'unembedded')) t(user_handle, title)"
    )
    con.execute(
        "create table int_text_chunks as select * from (values ('title', 'a', 0, 'ha', 'm'), "
        "('title', 'b', 0, 'hb', 'm'), ('title', 'b', 0, 'hb2', 'other'), ('document', 'a', 0, 'hd', 'm')) "
        "t(source, text, chunk_index, content_hash, model_id)"
    )
    con.execute(
        "create table int_text_embeddings as select content_hash, model_id, embedding::float[2] as embedding "
        "from (values ('ha', 'm', [1, 0]), ('hb', 'm', [0, 1]), ('hb2', 'other', [5, 5]), "
        "('hd', 'm', [9, 9])) t(content_hash, model_id, embedding)"
    )
    vectors = user_title_vectors(con, "m")
    assert list(vectors) == ["u1", "u2"]
    np.testing.assert_array_equal(vectors["u1"], [[1, 0], [1, 0], [0, 1]])  # by title; read twice, twice
    np.testing.assert_array_equal(vectors["u2"], [[0, 1]])
    assert vectors["u1"].dtype == np.float32
    assert user_title_vectors(con, "nothing") == {}
