"""The embedding model run from its exported ONNX graph: the sentence-transformers pipeline (transformer, pooling,
normalisation) exported once to ONNX and run on the CPU by ONNX Runtime one text per thread (EMBEDDING_BACKEND=onnx,
or onnx-int8 with its weight matrices quantized to int8), or compiled by OpenVINO with bfloat16 arithmetic in
batches of texts of one length (openvino), its weight matrices stored in int8 and the activations that meet them
quantized per token (openvino-int8, the default).

Why: on 2 cores, the dbt embedding node with openvino-int8 encodes 3.5-3.9x faster than sentence-transformers' default
at 0.002 nDCG@10 less; onnx gives torch's vectors 1.8x faster; onnx-int8 3.4x at 0.009 nDCG@10 less
(docs/benchmarks.md, "Embeddings"). The graph is an artifact derived from the model files:
`ARTIFACTS_DIR/onnx/<model fingerprint>/<graph>.onnx` (or `.xml`), exported when first needed (seconds), so a
promoted fine-tuned model gets its own. The backend is part of the model id (embeddings.model_source), so vectors of
two backends are never compared with each other.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from core.settings import HUGGING_FACE_DEFAULTS, library_defaults
from embeddings.chunking import max_seq_length

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
    Changing this recipe means bumping embeddings.model_source.ONNX_EXPORT_RECIPE (the graph's path, the model id)."""
    library_defaults(HUGGING_FACE_DEFAULTS)
    import torch
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    # eager attention: the traced graph then takes the attention mask as an input instead of baking in a shape
    model = SentenceTransformer(str(model_dir), device="cpu", model_kwargs={"attn_implementation": "eager"}).eval()
    names = list(model.tokenizer.model_input_names)
    sample = model.tokenizer(
        ["a short text", "a somewhat longer text, padded to the longest"], padding=True, return_tensors="pt"
    )

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
        torch.onnx.export(
            Pipeline(),
            tuple(sample[name] for name in names),
            str(fp32),
            input_names=names,
            output_names=["sentence_embedding"],
            opset_version=17,
            dynamo=False,
            dynamic_axes={**{name: {0: "batch", 1: "tokens"} for name in names}, "sentence_embedding": {0: "batch"}},
        )
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    if quantize:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        graph = onnx.load(str(fp32))
        weights = {tensor.name for tensor in graph.graph.initializer}
        # only products with a weight matrix: the attention products of two activations stay float
        activation_products = [
            node.name
            for node in graph.graph.node
            if node.op_type == "MatMul" and not any(i in weights for i in node.input)
        ]
        hint = _DropMessage("pre-processing before quantization")  # a hint for static quantization: not ours
        logging.getLogger().addFilter(hint)
        try:
            quantize_dynamic(
                str(fp32),
                str(staging),
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
                nodes_to_exclude=activation_products,
            )
        finally:
            logging.getLogger().removeFilter(hint)
        fp32.unlink()
    else:
        fp32.rename(staging)
    os.replace(staging, target)
    log.info("exported %s to %s in %.1fs", model_dir, target, time.perf_counter() - started)
    return target


def export_openvino_int8(float_graph: Path, target: Path) -> Path:
    """The float ONNX graph as an OpenVINO model (`target`, an .xml beside its .bin) whose weight matrices are
    stored in int8, one scale and zero point per output channel (NNCF's weight compression); OpenVinoEncoder then
    quantizes the activations that meet them per token, in groups of channels. Written under temporary names and
    renamed, the .bin first: a reader that finds the .xml finds its weights."""
    import nncf
    import openvino as ov

    started = time.perf_counter()
    nncf_logger = logging.getLogger("nncf")
    level = nncf_logger.level
    nncf_logger.setLevel(logging.WARNING)  # its per-layer statistics table is not our news
    try:
        model = nncf.compress_weights(ov.Core().read_model(str(float_graph)), mode=nncf.CompressWeightsMode.INT8_ASYM)
    finally:
        nncf_logger.setLevel(level)
    staging = target.with_name(f".{target.stem}.{os.getpid()}.tmp.xml")
    ov.save_model(model, str(staging), compress_to_fp16=False)
    os.replace(staging.with_suffix(".bin"), target.with_suffix(".bin"))
    os.replace(staging, target)
    log.info("stored %s's weights in int8 as %s in %.1fs", float_graph, target, time.perf_counter() - started)
    return target


def unpadded_tokenizer(model_dir: Path):
    """The model's fast tokenizer itself, without importing transformers (2.3 s of a 20 s encoding job): the same
    ids sentence-transformers feeds the model (its tokenizer reads this file too), truncated to the model's window,
    unpadded."""
    library_defaults(HUGGING_FACE_DEFAULTS)
    from tokenizers import Tokenizer

    if not (model_dir / "tokenizer.json").is_file():
        raise FileNotFoundError(
            f"{model_dir} has no tokenizer.json, which every EMBEDDING_BACKEND but torch "
            "reads: use EMBEDDING_BACKEND=torch for this model"
        )
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

    def __init__(self, graph_path: Path, model_dir: Path, threads: int | None = None):
        import onnxruntime as ort

        started = time.perf_counter()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # parallel across texts, not inside one (see the class docstring)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(graph_path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.threads = threads or len(os.sched_getaffinity(0))
        self.tokenizer = unpadded_tokenizer(model_dir)
        self.dim = self.session.get_outputs()[0].shape[-1]
        log.info("loaded %s in %.2fs", graph_path, time.perf_counter() - started)

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
    """encode(texts) -> unit vectors within bfloat16 rounding of torch's (cosine >= 0.9999 on MS MARCO), or with
    int8 weights (a model from export_openvino_int8) within cosine 0.998.

    The graph compiled by OpenVINO's CPU plugin with bfloat16 arithmetic (CPUs with AVX512_BF16 or AMX; on others
    OpenVINO computes in float32, torch's vectors, only slower), as many batches at once as the THROUGHPUT hint gives
    streams (one per core here). A batch holds texts of one token length only, up to BATCH of them: no padding, and
    a text's vector is bit for bit the one it gets alone, whatever else is encoded with it (tested; with padded
    batches it moved in the fifth decimal with its neighbours' lengths). With int8 weights, the activations that
    meet them are quantized dynamically per token, in groups of ACTIVATION_GROUP channels (OpenVINO's
    DYNAMIC_QUANTIZATION_GROUP_SIZE): int8 products on AVX512_VNNI, each token's scales its own, so the error stays
    far below onnx-int8's one scale per tensor. Measured on 2 cores (docs/benchmarks.md, "Embeddings")."""

    BATCH = 32
    ACTIVATION_GROUP = 128  # 32 and 64: closer to float but slower; per whole token (384): faster, further

    def __init__(
        self, graph_path: Path, model_dir: Path, threads: int | None = None, quantize_activations: bool = False
    ):
        """quantize_activations: for a model with int8 weights (export_openvino_int8), quantize the activations that
        meet them."""
        import openvino as ov

        started = time.perf_counter()
        config = {
            "INFERENCE_PRECISION_HINT": "bf16",
            "PERFORMANCE_HINT": "THROUGHPUT",
            "INFERENCE_NUM_THREADS": threads or len(os.sched_getaffinity(0)),
        }
        if quantize_activations:
            config["DYNAMIC_QUANTIZATION_GROUP_SIZE"] = self.ACTIVATION_GROUP
        self.compiled = ov.Core().compile_model(str(graph_path), "CPU", config)
        self.requests = self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        self.input_names = [port.get_any_name() for port in self.compiled.inputs]
        self.tokenizer = unpadded_tokenizer(model_dir)
        self.dim = self.compiled.outputs[0].get_partial_shape()[-1].get_length()
        # One text encoded here, on this thread: OpenVINO's Python binding sets up its numpy bridge on first use, and
        # two encode threads doing that at once deadlocked (one holding the GIL, the other the setup's lock)
        self.encode(["warm-up"])
        log.info(
            "compiled %s for OpenVINO (%s) in %.2fs",
            graph_path,
            self.compiled.get_property("INFERENCE_PRECISION_HINT"),
            time.perf_counter() - started,
        )

    def _inputs(self, batch: list[list[int]]) -> dict[str, np.ndarray]:
        ids = np.asarray(batch, np.int64)  # one length: a rectangle, nothing padded
        inputs = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        return {name: inputs[name] for name in self.input_names}

    def _batches(self, token_ids: list[list[int]]) -> list[np.ndarray]:
        """Row numbers grouped by token length, longest first (no straggler at the end), BATCH at most per group."""
        by_length: dict[int, list[int]] = {}
        for row, ids in enumerate(token_ids):
            by_length.setdefault(len(ids), []).append(row)
        return [
            np.asarray(rows[start : start + self.BATCH])
            for length, rows in sorted(by_length.items(), reverse=True)
            for start in range(0, len(rows), self.BATCH)
        ]

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), np.float32)
        if not texts:
            return vectors
        token_ids = [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]
        batches = self._batches(token_ids)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), desc="Texts", unit="text", mininterval=1.0)

        # One Python thread per stream, each running its own infer request synchronously (the GIL released while it
        # runs) and taking the next batch when done. Not AsyncInferQueue with a Python callback: OpenVINO's worker
        # threads keep a reference to that callback and drop it, taking the GIL, after the request has reported done;
        # when that came after the interpreter had begun to exit, the process aborted ("terminate called without an
        # active exception"; a short script that encoded and exited: 1 run in 10 to 50). Requests are new per call:
        # two calls at once (the service's threads) never share one.
        pending = iter(batches)
        lock = threading.Lock()

        def run_batches():
            request = self.compiled.create_infer_request()
            while True:
                with lock:
                    rows = next(pending, None)
                if rows is None:
                    return
                request.infer(self._inputs([token_ids[row] for row in rows]))
                vectors[rows] = request.get_output_tensor(0).data
                if bar is not None:
                    with lock:
                        bar.update(len(rows))

        streams = min(self.requests, len(batches))
        if streams == 1:  # a query: no thread to start
            run_batches()
        else:
            with ThreadPoolExecutor(max_workers=streams) as pool:
                for done in [pool.submit(run_batches) for _ in range(streams)]:
                    done.result()  # an error in a stream is raised here
        if bar is not None:
            bar.close()
        return unit_rows(vectors)
