"""The embedding model run from its exported ONNX graph: the sentence-transformers pipeline (transformer, pooling,
normalisation) exported once to ONNX, its weight matrices quantized to int8 for `onnx-int8`, and run on the CPU by
ONNX Runtime one text per thread (EMBEDDING_BACKEND=onnx, the default, or onnx-int8), or the float graph compiled by
OpenVINO with bfloat16 arithmetic, in length-sorted batches (EMBEDDING_BACKEND=openvino).

Why: on this machine's 2 cores the float graph encodes torch's vectors 1.66x faster than sentence-transformers'
default, the int8 graph 3.43x at a small quality cost (docs/benchmarks.md, "Embeddings"). The graph is an
artifact derived from the model files: `ARTIFACTS_DIR/onnx/<model fingerprint>/<graph>.onnx`, exported when
first needed (a few seconds), so a promoted fine-tuned model gets its own. The backend is part of the model id
(ingestion.model_source), so vectors of two backends are never compared with each other.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ingestion.embedding import max_seq_length

log = logging.getLogger(__name__)

class _DropMessage(logging.Filter):
    def __init__(self, fragment: str):
        super().__init__()
        self.fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self.fragment not in record.getMessage()


def export_onnx(model_dir: Path, target: Path, quantize: bool) -> Path:
    """Export the sentence-transformers model in model_dir to `target` (ONNX: token ids in, unit vectors out),
    its weight MatMuls quantized to int8 (per output channel) when `quantize`. Written under a temporary name
    and renamed, so a reader never sees half a file and two processes exporting at once both end well.
    Changing this recipe means bumping ingestion.model_source.ONNX_EXPORT_RECIPE (the graph's path, the model id)."""
    import torch
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    # eager attention: the traced graph then takes the attention mask as an input instead of baking in a shape
    model = SentenceTransformer(str(model_dir), device="cpu", model_kwargs={"attn_implementation": "eager"}).eval()
    names = list(model.tokenizer.model_input_names)
    sample = model.tokenizer(["a short text", "a somewhat longer text, padded to the longest"], padding=True,
                             return_tensors="pt")

    class Pipeline(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model(dict(zip(names, inputs)))["sentence_embedding"]

    fp32 = target.with_name(f".{target.stem}.{os.getpid()}.fp32.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer's notes on Python-side checks it records as constants (the mask always matches the tokens)
        warnings.simplefilter("ignore")
        torch.onnx.export(Pipeline(), tuple(sample[name] for name in names), str(fp32), input_names=names,
                          output_names=["sentence_embedding"], opset_version=17, dynamo=False,
                          dynamic_axes={**{name: {0: "batch", 1: "tokens"} for name in names},
                                        "sentence_embedding": {0: "batch"}})
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    if quantize:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        graph = onnx.load(str(fp32))
        weights = {tensor.name for tensor in graph.graph.initializer}
        # only products with a weight matrix: the attention products of two activations stay float
        activation_products = [node.name for node in graph.graph.node
                               if node.op_type == "MatMul" and not any(i in weights for i in node.input)]
        hint = _DropMessage("pre-processing before quantization")  # a hint for static quantization: not ours
        logging.getLogger().addFilter(hint)
        try:
            quantize_dynamic(str(fp32), str(staging), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul"], nodes_to_exclude=activation_products)
        finally:
            logging.getLogger().removeFilter(hint)
        fp32.unlink()
    else:
        fp32.rename(staging)
    os.replace(staging, target)
    log.info("exported %s to %s in %.1fs", model_dir, target, time.perf_counter() - started)
    return target


def unpadded_tokenizer(model_dir: Path):
    """The model's fast tokenizer itself, without importing transformers (2.3 s of a 20 s encoding job): the same
    ids sentence-transformers feeds the model (its tokenizer reads this file too), truncated to the model's window,
    unpadded."""
    from tokenizers import Tokenizer

    if not (model_dir / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{model_dir} has no tokenizer.json, which EMBEDDING_BACKEND=onnx, onnx-int8 and "
                                "openvino read: use EMBEDDING_BACKEND=torch for this model")
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_seq_length(model_dir))
    return tokenizer


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length: int8 or bfloat16 rounding leaves the graph's output a hair off it."""
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


class OnnxEncoder:
    """encode(texts) -> unit vectors, as SentenceTransformer.encode gives them (to int8 rounding).

    Each text runs alone, on one thread, with as many texts at once as there are threads. Alone: int8 activations
    are quantized with one scale per input tensor, so a text batched with others would get a vector that depends on
    its neighbours (cosine 0.994 between the two on MS MARCO); alone it is the same wherever, whenever it is encoded,
    and no token is padding. Measured on 2 cores: one text per thread, 2 threads, 1.5-1.75x the throughput of
    length-sorted padded batches of 32 run on 2 threads (docs/benchmarks.md, "Embeddings")."""

    def __init__(self, onnx_path: Path, model_dir: Path, threads: int | None = None):
        import onnxruntime as ort

        started = time.perf_counter()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # parallel across texts, not inside one (see the class docstring)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.threads = threads or len(os.sched_getaffinity(0))
        self.tokenizer = unpadded_tokenizer(model_dir)
        self.dim = self.session.get_outputs()[0].shape[-1]
        log.info("loaded %s in %.2fs", onnx_path, time.perf_counter() - started)

    def _encode_one(self, token_ids: list[int]) -> np.ndarray:
        ids = np.asarray([token_ids], np.int64)
        inputs = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        return self.session.run(None, {name: inputs[name] for name in self.input_names})[0][0]

    def _encode_in_parallel(self, token_ids: list[list[int]], vectors: np.ndarray, progress: bool) -> None:
        order = np.argsort([-len(ids) for ids in token_ids], kind="stable")  # longest first: no straggler at the end
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(token_ids), desc="Texts", unit="text", mininterval=1.0)
        with ThreadPoolExecutor(max_workers=min(self.threads, len(token_ids))) as pool:
            for row, vector in zip(order, pool.map(lambda i: self._encode_one(token_ids[i]), order)):
                vectors[row] = vector
                if bar is not None:
                    bar.update()
        if bar is not None:
            bar.close()

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), np.float32)
        if not texts:
            return vectors
        token_ids = [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]
        if len(texts) == 1 and not progress:  # a query: no pool to start
            vectors[0] = self._encode_one(token_ids[0])
        else:
            self._encode_in_parallel(token_ids, vectors, progress)
        return unit_rows(vectors)


class OpenVinoEncoder:
    """encode(texts) -> unit vectors within bfloat16 rounding of torch's (cosine >= 0.9999 on MS MARCO).

    The float graph compiled by OpenVINO's CPU plugin with bfloat16 arithmetic (CPUs with AVX512_BF16 or AMX; on
    others OpenVINO computes in float32, torch's vectors, only slower), texts sorted by length and run in padded
    batches of BATCH, as many batches at once as the THROUGHPUT hint gives streams (one per core here). Measured on
    2 cores against OnnxEncoder's float graph, texts per CPU second (docs/benchmarks.md, "Embeddings"): bf16 batches
    of 8-32 about 1.9x, bf16 one text per request 1.5x, OpenVINO in float32 no faster than ONNX Runtime. Padding
    never reaches a vector (the attention mask keeps it out of attention and pooling), so a text's vector is the
    one it gets alone, to bfloat16 rounding (tested)."""

    BATCH = 16

    def __init__(self, onnx_path: Path, model_dir: Path, threads: int | None = None):
        import openvino as ov

        started = time.perf_counter()
        self.compiled = ov.Core().compile_model(str(onnx_path), "CPU", {
            "INFERENCE_PRECISION_HINT": "bf16", "PERFORMANCE_HINT": "THROUGHPUT",
            "INFERENCE_NUM_THREADS": threads or len(os.sched_getaffinity(0))})
        self.requests = self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        self.input_names = [port.get_any_name() for port in self.compiled.inputs]
        self.tokenizer = unpadded_tokenizer(model_dir)
        self.dim = self.compiled.outputs[0].get_partial_shape()[-1].get_length()
        self._queue = ov.AsyncInferQueue
        log.info("compiled %s for OpenVINO (%s) in %.2fs", onnx_path,
                 self.compiled.get_property("INFERENCE_PRECISION_HINT"), time.perf_counter() - started)

    def _inputs(self, batch: list[list[int]]) -> dict[str, np.ndarray]:
        ids = np.zeros((len(batch), max(len(token_ids) for token_ids in batch)), np.int64)
        mask = np.zeros_like(ids)
        for row, token_ids in enumerate(batch):
            ids[row, :len(token_ids)] = token_ids
            mask[row, :len(token_ids)] = 1
        inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return {name: inputs[name] for name in self.input_names}

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), np.float32)
        if not texts:
            return vectors
        token_ids = [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]
        order = np.argsort([-len(ids) for ids in token_ids], kind="stable")  # little padding, longest first
        batches = [order[start:start + self.BATCH] for start in range(0, len(order), self.BATCH)]
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), desc="Texts", unit="text", mininterval=1.0)

        def store(request, rows):
            vectors[rows] = request.get_output_tensor(0).data
            if bar is not None:
                bar.update(len(rows))

        # a queue per call: two calls at once (the service's threads) never share an infer request
        queue = self._queue(self.compiled, min(self.requests, len(batches)))
        queue.set_callback(store)
        for rows in batches:
            queue.start_async(self._inputs([token_ids[row] for row in rows]), rows)
        queue.wait_all()
        if bar is not None:
            bar.close()
        return unit_rows(vectors)
