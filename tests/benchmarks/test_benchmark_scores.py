"""The score benchmark's own logic, without dbt: the pandas baseline computes what percentile_history computes
(window, one latest score per asset, cume_dist ties, normal percentile), and the agreement check bites."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from benchmarks.scores.pandas_baseline import pandas_percentiles, window_batches
from benchmarks.scores.throughput import max_abs_diff
from core.settings import PROJECT_ROOT


def clean_rows(rows: list[tuple[str, int, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["id", "batch", "industry", "score"])


def test_window_comes_from_the_dbt_project():
    assert window_batches(PROJECT_ROOT) >= 2


def test_pandas_percentiles_over_sliding_windows():
    clean = clean_rows(
        [
            ("a", 0, "cars", 0.1),
            ("b", 0, "cars", 0.3),
            ("a", 1, "cars", 0.5),
            ("c", 1, "food", 0.2),  # a scored again: its latest score counts, once
            ("d", 2, "cars", 0.3),
            ("e", 2, "food", 0.4),
        ]
    )
    frame = pandas_percentiles(clean, window=2)
    assert sorted(frame["iteration"].unique()) == [1, 2]  # the first full window ends at batch 1

    first = frame[frame["iteration"] == 1].set_index("id")
    assert sorted(first.index) == ["a", "b", "c"]
    assert first.loc["a", "score"] == 0.5 and first.loc["a", "batch"] == 1
    # cars {a 0.5, b 0.3}: share of scores <= own, in percent
    assert first.loc["a", "percentile"] == 100.0 and first.loc["b", "percentile"] == 50.0
    assert first.loc["c", "percentile"] == 100.0
    assert math.isnan(first.loc["c", "normal_percentile"])  # one score: no spread, no normal percentile
    assert first.loc["a", "normal_percentile"] == pytest.approx(100 * 0.7602499389065233)  # z = 1/sqrt(2)

    second = frame[frame["iteration"] == 2].set_index("id")
    assert sorted(second.index) == ["a", "c", "d", "e"]  # b fell out of the window
    # cars {a 0.5, d 0.3}, food {c 0.2, e 0.4}
    assert second.loc["d", "percentile"] == 50.0 and second.loc["e", "percentile"] == 100.0


def test_ties_count_fully_like_cume_dist():
    clean = clean_rows([("a", 0, "cars", 0.5), ("b", 0, "cars", 0.5), ("c", 0, "cars", 0.1)])
    frame = pandas_percentiles(clean, window=1).set_index("id")
    assert frame.loc["a", "percentile"] == frame.loc["b", "percentile"] == 100.0
    assert frame.loc["c", "percentile"] == pytest.approx(100 / 3)


def test_max_abs_diff_treats_one_missing_value_as_a_difference():
    nan = float("nan")
    assert max_abs_diff(pd.Series([1.0, nan]), pd.Series([1.5, nan])) == 0.5
    assert max_abs_diff(pd.Series([1.0, nan]), pd.Series([1.0, 2.0])) == math.inf
    assert max_abs_diff(pd.Series([], dtype=float), pd.Series([], dtype=float)) == 0.0


def test_postgres_summary_reports_the_incremental_scenario_alone():
    """--target postgres measures (a) only: the summary names the target in its command and has no (b)."""
    import argparse

    from benchmarks.scores.dbt_timing import DbtRun
    from benchmarks.scores.incremental import Scenario
    from benchmarks.scores.report import summary

    def scenario(history: int, seconds: float) -> Scenario:
        run = DbtRun("x", seconds, seconds / 2, {"model.ml_platform.scores": seconds / 4}, 0.0)
        return Scenario("s", history, 1.0, 10.0, 10.0, run, 0.1, run, run, run, {"scores": 1})

    args = argparse.Namespace(small=10, large=500, rows=10_000, target="postgres")
    text = summary({"postgres": "16.2"}, args, scenario(10, 8.0), scenario(500, 16.0), None)
    assert "--large 500 --rows 10000 --target postgres" in text
    assert "2.00x" in text and "(b)" not in text and "WARNING" not in text
