"""Vectors as every engine stores them, read back as DuckDB's FLOAT[dim]."""

from __future__ import annotations

import duckdb


def fixed_size_vectors(con: duckdb.DuckDBPyConnection, relation: str, column: str = "embedding") -> str:
    """`column` of `relation` as a select expression of type FLOAT[dim] on any engine: on DuckDB the column is
    FLOAT[dim] already; on Postgres (read through DuckDB) a vector column arrives as its text form '[0.1, ...]',
    on Spark (Parquet) as a plain list FLOAT[]: both cast back with the dimension of the first row (an empty table
    keeps its type: there is nothing to cast)."""
    first = con.execute(
        f"select typeof({column}), len(cast({column} as float[])) from {relation} where {column} is not null limit 1"
    ).fetchone()
    if first is None or first[0] not in ("VARCHAR", "FLOAT[]"):
        return column
    return f"cast({column} as float[{first[1]}])"
