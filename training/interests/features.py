"""A user's features, defined once for training and scoring: the vectors of the titles they read, as the warehouse
holds them (`int_text_embeddings`, encoded once per title by dbt), averaged, plus a one-hot of their type."""

from __future__ import annotations

import numpy as np

USER_TYPES = ("B2B", "B2C")  # the one-hot order of the features

# A title is one chunk (titles are far shorter than the model's window), so a user's title vectors are found by
# joining each title to its chunk's text. Ordered by title within a user so the float mean is reproducible.
USER_TITLE_VECTORS_SQL = """
-- FLOAT[dim] on DuckDB, pgvector's text form on Postgres (read through DuckDB): a float list on both
select titles.user_handle, cast(embeddings.embedding as float[]) as embedding
from {titles} as titles
inner join {chunks} as chunks
    on chunks.source = 'title' and chunks.text = titles.title and chunks.chunk_index = 0
inner join {embeddings} as embeddings
    on embeddings.content_hash = chunks.content_hash and embeddings.model_id = chunks.model_id
where chunks.model_id = $model_id
order by titles.user_handle, titles.title
"""


def user_title_vectors(
    con,
    model_id: str,
    titles: str = "int_user_activity_titles",
    chunks: str = "int_text_chunks",
    embeddings: str = "int_text_embeddings",
) -> dict[str, np.ndarray]:
    """handle -> (titles read x dim) float32 vectors of `model_id`, one row per title the user read (a title read
    twice counts twice). con: a DuckDB connection; the relations are table names, or parenthesised queries (a dbt
    Python model passes `(dbt.ref(...).sql_query())`). A title without a vector of that model is left out."""
    table = con.sql(
        USER_TITLE_VECTORS_SQL.format(titles=titles, chunks=chunks, embeddings=embeddings),
        params={"model_id": model_id},
    ).to_arrow_table()
    if not table.num_rows:
        return {}
    handles = table.column("user_handle").to_numpy(zero_copy_only=False)
    column = table.column("embedding").combine_chunks()  # FLOAT[]: one list per title, flattened in one go
    vectors = column.flatten().to_numpy().astype(np.float32, copy=False).reshape(len(column), -1)
    starts = np.flatnonzero(np.r_[True, handles[1:] != handles[:-1]])  # rows are sorted by handle
    ends = np.r_[starts[1:], len(handles)]
    return {str(handles[s]): vectors[s:e] for s, e in zip(starts, ends)}


def user_features(title_vectors: list[np.ndarray], user_types: list[str]) -> np.ndarray:
    """Per user: the mean of their unit title vectors, renormalised, then a one-hot of the user type.

    Called with precomputed vectors (n_titles x dim per user) so training and scoring share one definition.
    A user with no titles gets a zero text part: the model then falls back on the type alone.
    """
    if len(title_vectors) != len(user_types):
        raise ValueError(f"{len(title_vectors)} title-vector sets for {len(user_types)} user types")
    if not title_vectors:
        raise ValueError("no users")
    dims = {np.asarray(v).shape[-1] for v in title_vectors if np.asarray(v).size}
    if len(dims) > 1:
        raise ValueError(f"title vectors of different sizes: {sorted(dims)}")
    dim = dims.pop() if dims else 0
    out = np.zeros((len(title_vectors), dim + len(USER_TYPES)), dtype=np.float32)
    for row, (vectors, kind) in enumerate(zip(title_vectors, user_types)):
        if kind not in USER_TYPES:
            raise ValueError(f"user type {kind!r} is not one of {', '.join(USER_TYPES)}")
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, dim) if dim else np.zeros((0, 0))
        if len(vectors):
            mean = vectors.mean(axis=0)
            norm = float(np.linalg.norm(mean))
            if norm > 0:
                out[row, :dim] = mean / norm
        out[row, dim + USER_TYPES.index(kind)] = 1.0
    return out
