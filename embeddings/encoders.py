"""The platform's one embedding model at work: texts chunked for its window and encoded (which model, and its
id: embeddings.model_source).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import re
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from core.settings import HUGGING_FACE_DEFAULTS, library_defaults
from embeddings.model_source import ModelSpec, graph_file
from embeddings.onnx_encoder import OnnxEncoder, OpenVinoEncoder, export_onnx, export_openvino_int8

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- encoding


class HashingEncoder:
    """Signed bag-of-words hashing into `dim` buckets, L2-normalised: deterministic, weights-free."""

    def __init__(self, dim: int):
        self.dim = dim

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                vectors[row, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return vectors / norms


class SentenceTransformerEncoder:
    def __init__(self, model_dir: Path, batch_size: int = 32, threads: int | None = None):
        library_defaults(HUGGING_FACE_DEFAULTS)
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)  # process-wide: torch has no per-model setting
        started = time.perf_counter()
        self.model = SentenceTransformer(str(model_dir), device="cpu")
        self.batch_size = batch_size
        self.dim = (
            self.model.get_embedding_dimension()
            if hasattr(self.model, "get_embedding_dimension")
            else self.model.get_sentence_embedding_dimension()
        )
        log.info("loaded %s in %.2fs", model_dir, time.perf_counter() - started)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        ).astype(np.float32)


@functools.lru_cache(maxsize=2)
def load_encoder(spec: ModelSpec, threads: int | None = None):
    """One loaded model per process: loading is the expensive part, never repeat it per call. `threads`: how many
    cores one encode may use (None: all of them)."""
    if spec.hashing_dim:
        return HashingEncoder(spec.hashing_dim)
    if spec.backend == "torch":
        return SentenceTransformerEncoder(spec.model_dir, threads=threads)
    if spec.backend.startswith("openvino"):
        return OpenVinoEncoder(
            prepare_model(spec), spec.model_dir, threads=threads, quantize_activations=spec.backend == "openvino-int8"
        )
    return OnnxEncoder(prepare_model(spec), spec.model_dir, threads=threads)


def prepare_model(spec: ModelSpec) -> Path | None:
    """What a backend needs on disk before any process loads it: the exported graph, exported once (the Spark
    launcher calls this before its executors load the model, so they never export it side by side)."""
    if spec.graph_path is None or spec.graph_path.is_file():
        return spec.graph_path
    if spec.backend == "openvino-int8":  # derived from the float graph, itself exported when missing
        float_spec = replace(spec, backend="onnx", graph_path=graph_file(spec.graph_path.parent, "onnx"))
        float_graph = prepare_model(float_spec)
        log.info("storing %s's weights in int8 for OpenVINO, once for these model files", spec.model_id)
        return export_openvino_int8(float_graph, spec.graph_path)
    log.info("exporting %s to ONNX, once for these model files", spec.model_id)
    return export_onnx(spec.model_dir, spec.graph_path, quantize=spec.backend == "onnx-int8")


# Where encode_texts sends its texts instead of the local model, while set (encoding_elsewhere): the Spark
# launcher's executors (pipeline.spark_dbt), so a Python model encodes on the cluster unchanged.
_remote_encoder = None


@contextlib.contextmanager
def encoding_elsewhere(encode):
    """Within the block, encode_texts(spec, texts) returns encode(spec, texts) (an (n, dim) float32 array)."""
    global _remote_encoder
    previous, _remote_encoder = _remote_encoder, encode
    try:
        yield
    finally:
        _remote_encoder = previous


def encode_texts(spec: ModelSpec, texts: list[str], progress: bool = True) -> np.ndarray:
    """Encode in batches with a progress bar; log the throughput."""
    if _remote_encoder is not None:
        return _remote_encoder(spec, texts)
    started = time.perf_counter()
    encoder = load_encoder(spec)
    if texts:
        log.info("model %s ready in %.2fs", spec.model_id, time.perf_counter() - started)
    started = time.perf_counter()
    if isinstance(encoder, HashingEncoder):
        vectors = encoder.encode(texts)
    else:
        vectors = encoder.encode(texts, progress=progress and len(texts) > 0)
    seconds = time.perf_counter() - started
    if texts:
        log.info(
            "encoded %d texts with %s in %.1fs (%.1f texts/s)",
            len(texts),
            spec.model_id,
            seconds,
            len(texts) / max(seconds, 1e-9),
        )
    return vectors
