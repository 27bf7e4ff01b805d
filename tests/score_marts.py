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
            assert ours.astype(object).where(ours.notna(), None).tolist() == \
                theirs.astype(object).where(theirs.notna(), None).tolist(), (table, column)
