"""EMBEDDING_BACKEND (embeddings.onnx_encoder): the packaged model exported to ONNX and run by ONNX Runtime or
OpenVINO gives the PyTorch model's vectors (exactly for `onnx`, to int8 rounding for `onnx-int8` and
`openvino-int8`, to bfloat16 rounding for `openvino`) on real texts, in the texts' order, each text's vector the
same whatever it is encoded with; the exported graph is a cached artifact keyed by the model files; the backend is
part of the model id."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from core.settings import Settings
from embeddings.encoders import encode_texts, load_encoder, prepare_model
from embeddings.model_source import ONNX_EXPORT_RECIPE, PACKAGED, default_model_dir, resolve_model, settings_model
from tests.support.data import REAL_DATA, require_real

MSMARCO = REAL_DATA / "retrieval" / "msmarco-trec-dl"


@pytest.fixture(scope="module")
def passages() -> list[str]:
    """400 real MS MARCO passages, shuffled so lengths are mixed (the encoder sorts them into batches itself)."""
    require_real(MSMARCO)
    with (MSMARCO / "corpus.jsonl").open(encoding="utf-8") as lines:
        texts = [json.loads(line)["text"] for _, line in zip(range(400), lines)]
    return [texts[i] for i in np.random.default_rng(0).permutation(len(texts))]


@pytest.fixture(scope="module")
def torch_vectors(passages, tmp_path_factory) -> np.ndarray:
    return encode_texts(resolve_model(PACKAGED, tmp_path_factory.mktemp("artifacts"), "torch"), passages)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx_artifacts")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_onnx_float_gives_the_torch_vectors(passages, torch_vectors, artifacts):
    vectors = encode_texts(resolve_model(PACKAGED, artifacts, "onnx"), passages)
    assert vectors.shape == torch_vectors.shape == (400, 384) and vectors.dtype == np.float32
    assert cosines(vectors, torch_vectors).min() > 0.99999


def test_onnx_int8_stays_within_rounding_of_the_torch_vectors(passages, torch_vectors, artifacts):
    vectors = encode_texts(resolve_model(PACKAGED, artifacts, "onnx-int8"), passages)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = cosines(vectors, torch_vectors)  # row by row: a vector given to the wrong text fails here
    assert similarity.mean() > 0.99 and similarity.min() > 0.97
    # what search sees: each passage's 10 nearest passages are mostly the same under both
    overlap = [
        len(set(np.argsort(-(vectors @ v))[:10]) & set(np.argsort(-(torch_vectors @ t))[:10])) / 10
        for v, t in zip(vectors[:50], torch_vectors[:50])
    ]
    assert np.mean(overlap) >= 0.8


def test_openvino_stays_within_bfloat16_rounding_of_the_torch_vectors(passages, torch_vectors, artifacts):
    spec = resolve_model(PACKAGED, artifacts, "openvino")
    assert spec.graph_path == resolve_model(PACKAGED, artifacts, "onnx").graph_path  # the float graph, not a copy
    vectors = encode_texts(spec, passages)
    assert vectors.shape == (400, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = cosines(vectors, torch_vectors)  # row by row: a vector given to the wrong text fails here
    assert similarity.mean() > 0.9999 and similarity.min() > 0.9995
    # one thread (a Spark executor's task): one stream, the same vectors
    alone = load_encoder(spec, threads=1).encode(passages[:32])
    assert cosines(alone, vectors[:32]).min() > 0.9999


def test_openvino_int8_stays_within_rounding_of_the_torch_vectors(passages, torch_vectors, artifacts):
    vectors = encode_texts(resolve_model(PACKAGED, artifacts, "openvino-int8"), passages)
    assert vectors.shape == (400, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = cosines(vectors, torch_vectors)  # row by row: a vector given to the wrong text fails here
    # per-token activation scales: about eight times closer to torch than onnx-int8's one scale per tensor
    assert similarity.mean() > 0.999 and similarity.min() > 0.995
    overlap = [
        len(set(np.argsort(-(vectors @ v))[:10]) & set(np.argsort(-(torch_vectors @ t))[:10])) / 10
        for v, t in zip(vectors[:50], torch_vectors[:50])
    ]
    assert np.mean(overlap) >= 0.9


# onnx-int8: activation scales are per tensor, so each text runs alone; openvino: batches hold one length only
@pytest.mark.parametrize("backend", ["onnx-int8", "openvino", "openvino-int8"])
def test_a_text_gets_the_same_vector_whatever_it_is_batched_with(passages, artifacts, backend):
    spec = resolve_model(PACKAGED, artifacts, backend)
    together = encode_texts(spec, passages[:64])
    alone = np.vstack([encode_texts(spec, [text]) for text in passages[:16]])
    assert np.array_equal(together[:16], alone)  # bit for bit
    # texts of one length share a batch: their order within it changes no vector
    lengths = [len(load_encoder(spec).tokenizer.encode(text).ids) for text in passages]
    twins = [text for text, length in zip(passages, lengths) if lengths.count(length) > 1][:8]
    assert twins and np.array_equal(encode_texts(spec, twins), encode_texts(spec, twins[::-1])[::-1])


def test_the_graph_is_exported_once_per_model_files(artifacts, tmp_path):
    spec = resolve_model(PACKAGED, artifacts, "onnx-int8")
    path = prepare_model(spec)
    assert path == spec.graph_path and path.is_file() and path.is_relative_to(artifacts / "onnx")
    written = path.stat().st_mtime_ns
    assert prepare_model(resolve_model(PACKAGED, artifacts, "onnx-int8")).stat().st_mtime_ns == written
    assert resolve_model(PACKAGED, artifacts, "onnx").graph_path.parent == path.parent  # one folder per model files
    # openvino-int8's model is derived from the float graph, in the same folder, its weights beside it
    openvino = prepare_model(resolve_model(PACKAGED, artifacts, "openvino-int8"))
    assert openvino.parent == path.parent and openvino.suffix == ".xml" and openvino.with_suffix(".bin").is_file()
    float_graph = resolve_model(PACKAGED, artifacts, "onnx").graph_path  # exported on the way
    assert openvino.with_suffix(".bin").stat().st_size < float_graph.stat().st_size / 3  # the weights are int8
    assert not [p.name for p in path.parent.iterdir() if p.name.startswith(".")]  # no staging file left behind
    # other model files (a fine-tuned model, here the packaged one with a changed config) get their own graph
    changed = tmp_path / "changed"
    shutil.copytree(default_model_dir(), changed)
    config = json.loads((changed / "sentence_bert_config.json").read_text())
    (changed / "sentence_bert_config.json").write_text(json.dumps({**config, "max_seq_length": 128}))
    other = resolve_model(str(changed), artifacts, "onnx-int8")
    assert other.graph_path.parent != path.parent and other.model_id != spec.model_id


def test_the_backend_is_part_of_the_model_id(artifacts, monkeypatch):
    ids = {
        backend: resolve_model(PACKAGED, artifacts, backend).model_id
        for backend in ("torch", "onnx", "onnx-int8", "openvino", "openvino-int8")
    }
    recipe = f"-r{ONNX_EXPORT_RECIPE}"  # a changed export recipe is a new model id: its vectors are re-embedded
    assert ids["onnx-int8"] == ids["torch"] + "+onnx-int8" + recipe and ids["onnx"] == ids["torch"] + "+onnx" + recipe
    assert ids["openvino"] == ids["torch"] + "+openvino" + recipe  # its own id, though it runs onnx's graph
    assert ids["openvino-int8"] == ids["torch"] + "+openvino-int8" + recipe
    assert "+" not in ids["torch"]  # vectors stored before backends existed keep their id
    monkeypatch.setenv("EMBEDDING_BACKEND", "")
    assert settings_model(Settings.from_env()).backend == "openvino-int8"  # the default
    monkeypatch.setenv("EMBEDDING_BACKEND", "tensorrt")
    expected = "expected one of onnx, onnx-int8, openvino, openvino-int8, torch"
    with pytest.raises(ValueError, match=f"EMBEDDING_BACKEND='tensorrt': {expected}"):
        Settings.from_env()


@pytest.mark.parametrize("backend", ["onnx-int8", "openvino", "openvino-int8"])
def test_no_texts_no_work(artifacts, backend):
    spec = resolve_model(PACKAGED, artifacts, backend)
    assert encode_texts(spec, []).shape == (0, 384)
    assert load_encoder(spec, threads=1).encode([]).shape == (0, 384)
