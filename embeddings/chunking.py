"""Texts cut into the embedding model's token windows: chunks for the index, windows for a long query."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.settings import HUGGING_FACE_DEFAULTS, library_defaults
from embeddings.model_source import ModelSpec

CHUNK_OVERLAP_TOKENS = 32  # consecutive chunks of a long text share this many tokens, so no sentence is cut blind


@functools.lru_cache(maxsize=4)
def load_tokenizer(tokenizer_dir: Path):
    library_defaults(HUGGING_FACE_DEFAULTS)
    from transformers import AutoTokenizer
    from transformers.utils import logging as transformers_logging

    # we tokenize whole texts on purpose (to chunk them): the "longer than the maximum" warning is noise
    transformers_logging.set_verbosity_error()
    return AutoTokenizer.from_pretrained(str(tokenizer_dir))


def max_seq_length(model_dir: Path) -> int:
    """The model's window in tokens, [CLS] and [SEP] included (sentence_bert_config.json; 256 without one)."""
    import json

    config = model_dir / "sentence_bert_config.json"
    return json.loads(config.read_text()).get("max_seq_length", 256) if config.is_file() else 256


def max_content_tokens(spec: ModelSpec) -> int:
    """Tokens of text one chunk may hold: the model's max_seq_length less [CLS] and [SEP]."""
    return max_seq_length(spec.tokenizer_dir) - 2


@dataclass(frozen=True)
class Chunk:
    start: int  # character offsets into the source text
    end: int
    token_count: int


def chunk_text(text: str, tokenizer, max_tokens: int, overlap: int = CHUNK_OVERLAP_TOKENS) -> list[Chunk]:
    """Split a text into windows of at most max_tokens tokens, consecutive windows sharing `overlap` tokens.

    Windows end on a word boundary where one exists in their last quarter, so a re-tokenised chunk does not
    start mid-word. A text that fits is one chunk covering all of it: nothing is ever truncated. A text the
    tokenizer reads as nothing (private-use glyphs, lone combining marks) has no chunk: its vector would be the
    model's [CLS][SEP] alone, the same for every such text; the caller reports it (document_rejects,
    corpus_rejects: no_model_tokens).
    """
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = encoding["offset_mapping"]
    if not offsets:
        return []
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


def text_windows(spec: ModelSpec, texts: list[str]) -> Iterator[tuple[int, str, int]]:
    """Texts of any length, whole: each cut into the model's token windows (as chunks are for the index), one
    text at a time, as (index of the text, the window's text, its token count). Encoding every window lets a
    caller compare a long text on all of it rather than on its first 256 tokens; the counts let it stop before
    tokenizing, or encoding, more than it means to (serving.api.budget)."""
    tokenizer, max_tokens = load_tokenizer(spec.tokenizer_dir), max_content_tokens(spec)
    for index, text in enumerate(texts):
        for chunk in chunk_text(text, tokenizer, max_tokens):
            yield index, text[chunk.start : chunk.end], chunk.token_count
