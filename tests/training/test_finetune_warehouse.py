"""The fine-tuning data and the promotion gate read the corpus from the warehouse: what they say when it is not
there, and how the gate scores a passage split into chunks. (The end to end tests on a real subset: test_finetune.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.finetune_data import build_dataset
from training.judged_corpus import CorpusUnavailable
from warehouse import DuckDBWarehouse


def test_a_passage_scores_its_best_chunk():
    from embeddings.encoders import encode_texts
    from embeddings.model_source import resolve_model
    from training.corpus_search import CorpusChunks, search_run

    spec = resolve_model("hashing", Path("unused"))
    texts = ["a long passage about tides", "whose second window is on volcanic islands", "penguins of the south"]
    chunks = CorpusChunks(Path("unused"), "tiny", "v", ["long", "short"], np.array([0, 2]), texts, "d")
    run = search_run(spec, chunks, encode_texts(spec, texts, progress=False), {"q": "volcanic islands"})
    assert list(run["q"]) == ["long", "short"]
    second_window = (
        encode_texts(spec, ["volcanic islands"], progress=False) @ encode_texts(spec, texts[1:2], progress=False).T
    )
    assert run["q"]["long"] == pytest.approx(float(second_window[0, 0])) and run["q"]["long"] > run["q"]["short"]


def test_data_and_evaluation_say_what_to_run_when_the_corpus_is_missing(monkeypatch, tmp_path: Path, capsys):
    from landing.land import ensure_raw_tables
    from training.finetune_data import main
    from warehouse.duckdb_file import connect

    with pytest.raises(CorpusUnavailable, match=r"no warehouse at .*make run"):
        build_dataset(DuckDBWarehouse(tmp_path / "none.duckdb"), tmp_path / "artifacts")
    monkeypatch.setenv("DUCKDB_PATH", str(tmp_path / "none.duckdb"))
    assert main(["--artifacts-dir", str(tmp_path / "artifacts")]) == 1
    assert "DATA_DIR=../shared/data make run" in capsys.readouterr().err

    with connect(tmp_path / "nothing_landed.duckdb") as con:
        ensure_raw_tables(con)
    with pytest.raises(CorpusUnavailable, match=r"'msmarco-trec-dl' is not landed: .*make run"):
        build_dataset(DuckDBWarehouse(tmp_path / "nothing_landed.duckdb"), tmp_path / "artifacts")
    assert not (tmp_path / "artifacts").exists()

    # the gate says the same
    from training.promote import main as evaluate

    dataset, candidate = tmp_path / "datasets" / "v1", tmp_path / "models" / "v1"
    dataset.mkdir(parents=True)
    candidate.mkdir(parents=True)
    source = {"corpus": "msmarco-trec-dl", "landed": {"content_hash": "0" * 64}}
    (dataset / "manifest.json").write_text(json.dumps({"files": {}, "source": source}))
    (candidate / "training.json").write_text(json.dumps({"dataset": {"path": str(dataset), "version": "v1"}}))
    monkeypatch.setenv("DUCKDB_PATH", str(tmp_path / "none.duckdb"))
    assert evaluate(["--candidate", str(candidate)]) == 1
    assert "no warehouse at" in (err := capsys.readouterr().err) and "DATA_DIR=../shared/data make run" in err
