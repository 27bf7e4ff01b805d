"""Chunks of every text the platform embeds (document texts, retrieval corpus passages).

A text longer than the model's maximum sequence length is split into token-bounded windows that overlap by
32 tokens; each chunk keeps its source text's pages, so nothing is silently truncated. Chunk boundaries come
from the embedding model's own tokenizer, which is why the chunks carry the model id. A text the tokenizer reads
as nothing has no chunk; document_rejects and corpus_rejects name it (`no_model_tokens`).
"""

import collections
import hashlib

import pyarrow as pa


def model(dbt, session):
    dbt.config(materialized="table")
    from core.settings import Settings
    from embeddings.chunking import chunk_text, load_tokenizer, max_content_tokens
    from embeddings.model_source import settings_model

    spec = settings_model(Settings.from_env())  # this model is an entry point: settings resolved here, once
    tokenizer = load_tokenizer(spec.tokenizer_dir)
    max_tokens = max_content_tokens(spec)
    units = dbt.ref("int_text_units").to_arrow_table().to_pylist()

    columns = {
        name: []
        for name in (
            "source",
            "source_id",
            "source_position",
            "unit_id",
            "chunk_index",
            "chunk_id",
            "text",
            "pages",
            "token_count",
            "content_hash",
            "model_id",
        )
    }
    untokenized = collections.Counter()  # source -> texts without a chunk
    for unit in units:
        text = unit["text"]
        chunks = chunk_text(text, tokenizer, max_tokens)
        if not chunks:
            untokenized[unit["source"]] += 1
        for index, chunk in enumerate(chunks):
            chunk_text_value = text[chunk.start : chunk.end]
            columns["source"].append(unit["source"])
            columns["source_id"].append(unit["source_id"])
            columns["source_position"].append(unit["source_position"])
            columns["unit_id"].append(unit["unit_id"])
            columns["chunk_index"].append(index)
            columns["chunk_id"].append(f"{unit['source_position']}-{index}")
            columns["text"].append(chunk_text_value)
            columns["pages"].append(unit["pages"])
            columns["token_count"].append(chunk.token_count)
            columns["content_hash"].append(hashlib.sha256(chunk_text_value.encode()).hexdigest())
            columns["model_id"].append(spec.model_id)
    print(
        f"[int_text_chunks] {len(units)} texts -> {len(columns['text'])} chunks (at most {max_tokens} tokens each)"
        + "".join(f"; {n} {source} texts hold no model token" for source, n in sorted(untokenized.items()))
        + (
            " (documents and passages: rejects with reason no_model_tokens; titles: left out of the interest features)"
            if untokenized
            else ""
        )
    )
    schema = pa.schema(
        [
            ("source", pa.string()),
            ("source_id", pa.string()),
            ("source_position", pa.int32()),
            ("unit_id", pa.string()),
            ("chunk_index", pa.int32()),
            ("chunk_id", pa.string()),
            ("text", pa.string()),
            ("pages", pa.list_(pa.int32())),
            ("token_count", pa.int32()),
            ("content_hash", pa.string()),
            ("model_id", pa.string()),
        ]
    )
    return pa.table(columns, schema=schema)
