"""The four score marts read and compared across two warehouses (DuckDB against Postgres, or two Postgres
databases built differently): floats within TOLERANCE, everything else exact, `loaded_at` left out."""

from __future__ import annotations

import numpy as np
import pandas as pd

TOLERANCE = 1e-9
MARTS = {  # mart -> its key (the order rows are compared in)
    "scores": ["id"],
    "percentile_history": ["iteration", "id"],
    "industry_distribution_history": ["iteration", "industry"],
    "score_rejects": ["batch", "record_index"],
}
VOLATILE = {"loaded_at"}  # when a file landed: differs between two landings


def read(con, table: str) -> pd.DataFrame:
    """A mart through a DuckDB connection (to either engine), volatile columns dropped, in key order."""
    frame = con.execute(f"select * from {table}").df()
    frame = frame.drop(columns=[c for c in frame.columns if c in VOLATILE])
    return frame.sort_values(MARTS[table]).reset_index(drop=True)


def assert_same(expected: pd.DataFrame, actual: pd.DataFrame, table: str) -> None:
    assert list(actual.columns) == list(expected.columns), table
    assert len(actual) == len(expected), table
    for column in expected.columns:
        ours, theirs = expected[column], actual[column]
        if pd.api.types.is_float_dtype(ours):
            assert theirs.isna().equals(ours.isna()), (table, column)
            gap = np.nanmax(np.abs(ours.to_numpy() - theirs.to_numpy()), initial=0.0)
            assert gap <= TOLERANCE, (table, column, gap)
        else:
            assert (
                ours.astype(object).where(ours.notna(), None).tolist()
                == theirs.astype(object).where(theirs.notna(), None).tolist()
            ), (table, column)


def assert_marts_match(expected_warehouse, actual_warehouse, table: str) -> None:
    """One mart of two warehouses of any engines (Warehouse.open), compared as assert_same."""
    with expected_warehouse.open(read_only=True) as con:
        expected = read(con, table)
    with actual_warehouse.open(read_only=True) as con:
        actual = read(con, table)
    assert_same(expected, actual, table)


EXPORTS = ["scores", "percentile_history", "document_chunks"]  # what `make export` writes


def assert_exports_match(expected_dir, actual_dir, export: str) -> None:
    """One Parquet file of `make export` from two engines: the same schema (vectors fixed_size_list<float>[384]),
    the same rows; floats within TOLERANCE, vectors of cosine >= 0.9999, chunks, pages and hashes exact."""
    import pyarrow.parquet as pq

    ours = pq.read_table(expected_dir / f"{export}.parquet")
    theirs = pq.read_table(actual_dir / f"{export}.parquet")
    assert theirs.schema.equals(ours.schema), (theirs.schema, ours.schema)
    assert theirs.num_rows == ours.num_rows > 0
    if export == "document_chunks":
        assert str(ours.schema.field("embedding").type) == "fixed_size_list<element: float>[384]"
        a = np.array(ours.column("embedding").to_pylist(), np.float64)
        b = np.array(theirs.column("embedding").to_pylist(), np.float64)
        cosine = (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        assert cosine.min() >= 0.9999, cosine.min()
        assert theirs.drop(["embedding"]).equals(ours.drop(["embedding"]))  # chunks, pages, hashes, model id, order
    else:
        key = ["id"] if export == "scores" else ["iteration", "id"]
        assert_same(
            ours.to_pandas().sort_values(key).reset_index(drop=True),
            theirs.to_pandas().sort_values(key).reset_index(drop=True),
            export,
        )
