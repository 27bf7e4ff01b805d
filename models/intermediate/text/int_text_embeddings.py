"""One L2-normalised vector per distinct chunk text and model, in a fixed-size FLOAT[<dim>] column.

Incremental: a (content_hash, model_id) that already has a vector is never encoded again, so a second build
encodes nothing, identical texts share one vector, and switching the model re-encodes everything (vectors of
other models stay, keyed by their model id, so switching back costs nothing). Encoding is batched with a
progress bar; its throughput is logged.
"""

import datetime
import time

import numpy as np
import pyarrow as pa


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="append")
    from core.settings import Settings
    from embeddings.encoders import encode_texts, load_encoder
    from embeddings.model_source import embedding_dimension, settings_model

    spec = settings_model(Settings.from_env())  # this model is an entry point: settings resolved here, once
    dim = embedding_dimension(spec)
    chunks = dbt.ref("int_text_chunks")
    wanted = session.sql(
        f"select content_hash, min(text) as text from ({chunks.sql_query()}) "
        "where model_id = $model_id group by content_hash order by content_hash",
        params={"model_id": spec.model_id},
    ).fetchall()
    done = set()
    if dbt.is_incremental:
        done = {
            row[0]
            for row in session.execute(
                f"select content_hash from {dbt.this} where model_id = ?", [spec.model_id]
            ).fetchall()
        }
    todo = [(content_hash, text) for content_hash, text in wanted if content_hash not in done]
    print(
        f"[int_text_embeddings] {spec.model_id}: {len(todo)} chunks to encode, "
        f"{len(wanted) - len(todo)} already encoded"
    )

    if todo:
        started = time.perf_counter()
        load_encoder(spec)  # loading is timed apart from encoding
        print(f"[int_text_embeddings] model loaded in {time.perf_counter() - started:.1f}s")
    started = time.perf_counter()
    vectors = encode_texts(spec, [text for _, text in todo]) if todo else np.zeros((0, dim), np.float32)
    if todo:
        seconds = time.perf_counter() - started
        print(
            f"[int_text_embeddings] encoded {len(todo)} chunks in {seconds:.1f}s ({len(todo) / seconds:.1f} chunks/s)"
        )
    if vectors.shape[1] != dim:
        raise ValueError(f"{spec.model_id} produced {vectors.shape[1]}-dimensional vectors, config says {dim}")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return pa.table(
        {
            "content_hash": pa.array([h for h, _ in todo], pa.string()),
            "model_id": pa.array([spec.model_id] * len(todo), pa.string()),
            # a FixedSizeList lands as FLOAT[dim]; a list of numpy arrays would land as FLOAT[]
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), dim),
            "embedded_at": pa.array([now] * len(todo), pa.timestamp("us")),
        }
    )
