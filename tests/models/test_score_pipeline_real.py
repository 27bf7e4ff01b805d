"""The score-percentile pipeline on the 20 real batches, checked against an independent plain-Python
recomputation, and the incremental build checked against the all-at-once build."""

from __future__ import annotations

import bisect
import json
import math
import re
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.scores.dbt_timing import SCORE_PIPELINE
from landing.land import ensure_raw_tables
from landing.score_batches import batch_files, land_score_batch, land_score_batches
from pipeline.export import export_tables
from tests.support.data import REAL_SCORE_BATCHES, require_real
from tests.support.warehouses import Dbt, query
from warehouse import DuckDBWarehouse
from warehouse.duckdb_file import connect

KNOWN_INDUSTRIES = ("cars", "clothing", "food", "hair care")
SENTINEL = 99999
TOLERANCE = 1e-9
LAST = 19


# ---------------------------------------------------------------- independent reference, plain Python


def resolve_industry(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    name = raw.strip().lower()
    pattern = re.escape(name).replace("xxxx", ".")  # each XXXX stands for one replaced letter
    matches = [known for known in KNOWN_INDUSTRIES if re.fullmatch(pattern, known)]
    return matches[0] if len(matches) == 1 else None


def is_valid_score(score: object) -> bool:
    return (
        isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score) and score != SENTINEL
    )


def reference():
    """clean records per batch, expected rejects, and per-iteration percentiles, computed from the JSON files."""
    clean: dict[int, list[tuple[str, float, str]]] = {}
    rejects = Counter()
    for path in batch_files(REAL_SCORE_BATCHES):
        batch = int(path.stem.split("_")[1])
        clean[batch] = []
        for record in json.loads(path.read_text()):
            industry = resolve_industry(record["industry"])
            if not isinstance(record["score"], (int, float)):
                rejects["non_numeric_score"] += 1
            elif record["score"] == SENTINEL:
                rejects["sentinel_score"] += 1
            elif is_valid_score(record["score"]) and industry:
                clean[batch].append((record["id"], float(record["score"]), industry))
            else:
                rejects["other"] += 1
    history = {}
    windows = {}
    for iteration in range(2, LAST + 1):
        by_industry = defaultdict(list)
        for batch in range(iteration - 2, iteration + 1):
            for asset_id, score, industry in clean[batch]:
                by_industry[industry].append((asset_id, score, batch))
        windows[iteration] = {ind: sorted(s for _, s, _ in rows) for ind, rows in by_industry.items()}
        for industry, rows in by_industry.items():
            ordered = windows[iteration][industry]
            mean, sd = statistics.fmean(ordered), statistics.stdev(ordered)
            for asset_id, score, batch in rows:
                percentile = 100 * bisect.bisect_right(ordered, score) / len(ordered)
                normal = 100 * statistics.NormalDist().cdf((score - mean) / sd)
                history[(iteration, asset_id)] = (batch, industry, score, percentile, normal)
    return clean, rejects, history, windows


def ks_statistic(a: list[float], b: list[float]) -> float:
    return max(abs(bisect.bisect_right(a, x) / len(a) - bisect.bisect_right(b, x) / len(b)) for x in set(a) | set(b))


def quantile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (SQL percentile_cont)."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# ---------------------------------------------------------------- the warehouse built from the real batches


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """All 20 real batches landed, then one dbt build of the score pipeline (what a landed batch triggers)."""
    require_real(REAL_SCORE_BATCHES)
    folder = tmp_path_factory.mktemp("all_at_once")
    warehouse = DuckDBWarehouse(folder / "warehouse.duckdb")
    with warehouse.open() as con:
        ensure_raw_tables(con)
        land_score_batches(con, REAL_SCORE_BATCHES)
    Dbt(warehouse, folder / "target")("build", "--select", SCORE_PIPELINE)
    return warehouse


@pytest.fixture(scope="module")
def expected():
    return reference()


def test_every_raw_row_is_clean_or_rejected_with_its_reason(built: Path, expected):
    clean, rejects, _, _ = expected
    assert query(built, "select count(*) from raw.score_batches") == [(8000,)]
    assert dict(query(built, "select reason, count(*) from score_rejects group by reason")) == {
        "non_numeric_score": 82,
        "sentinel_score": 81,
    }
    assert rejects == Counter(non_numeric_score=82, sentinel_score=81)
    assert query(built, "select count(*) from int_scores_clean") == [(sum(map(len, clean.values())),)] == [(7837,)]
    # the sentinel rows carry mangled names that still resolve, so the reject shows what they meant
    assert query(
        built, "select count(*) from score_rejects where reason = 'sentinel_score' and repaired_industry is null"
    ) == [(0,)]
    assert query(built, "select count(*) from score_rejects where raw_industry like '%XXXX%'") == [(81,)]


def test_percentile_history_equals_the_independent_recomputation(built: Path, expected):
    _, _, history, _ = expected
    rows = query(
        built, "select iteration, id, batch, industry, score, percentile, normal_percentile from percentile_history"
    )
    assert len(rows) == len(history) == len({(r[0], r[1]) for r in rows})
    assert query(built, "select min(iteration), max(iteration) from percentile_history") == [(2, LAST)]
    for iteration, asset_id, batch, industry, score, percentile, normal in rows:
        ref_batch, ref_industry, ref_score, ref_percentile, ref_normal = history[(iteration, asset_id)]
        assert (batch, industry, score) == (ref_batch, ref_industry, ref_score)
        assert abs(percentile - ref_percentile) <= TOLERANCE, (iteration, asset_id)
        assert abs(normal - ref_normal) <= TOLERANCE, (iteration, asset_id)


def test_scores_hold_each_assets_latest_percentile(built: Path, expected):
    clean, _, history, _ = expected
    rows = query(
        built, "select id, batch, score, industry, percentile, normal_percentile, updated_iteration from scores"
    )
    assert len(rows) == sum(map(len, clean.values()))
    for asset_id, batch, score, industry, percentile, normal, updated in rows:
        assert updated == min(batch + 2, LAST)
        _, ref_industry, ref_score, ref_percentile, ref_normal = history[(updated, asset_id)]
        assert (score, industry) == (ref_score, ref_industry)
        assert abs(percentile - ref_percentile) <= TOLERANCE
        assert abs(normal - ref_normal) <= TOLERANCE


def test_industry_distribution_history_matches_the_windows(built: Path, expected):
    clean, _, _, windows = expected
    rows = query(
        built,
        """select iteration, industry, n, mean, stddev, min, p05, p25, p50, p75, p95, max,
                  mean_shift_vs_previous, ks_vs_previous, mean_shift_vs_first, ks_vs_first, scores_rows
           from industry_distribution_history order by iteration, industry""",
    )
    assert len(rows) == 18 * 4
    for (
        iteration,
        industry,
        n,
        mean,
        stddev,
        low,
        p05,
        p25,
        p50,
        p75,
        p95,
        high,
        shift_prev,
        ks_prev,
        shift_first,
        ks_first,
        scores_rows,
    ) in rows:
        window = windows[iteration][industry]
        assert n == len(window)
        for actual, reference_value in [
            (mean, statistics.fmean(window)),
            (stddev, statistics.stdev(window)),
            (low, window[0]),
            (p05, quantile(window, 0.05)),
            (p25, quantile(window, 0.25)),
            (p50, quantile(window, 0.5)),
            (p75, quantile(window, 0.75)),
            (p95, quantile(window, 0.95)),
            (high, window[-1]),
            (shift_first, statistics.fmean(window) - statistics.fmean(windows[2][industry])),
            (ks_first, ks_statistic(window, windows[2][industry])),
        ]:
            assert abs(actual - reference_value) <= TOLERANCE, (iteration, industry)
        if iteration == 2:
            assert shift_prev is None and ks_prev is None
        else:
            previous = windows[iteration - 1][industry]
            assert abs(shift_prev - (statistics.fmean(window) - statistics.fmean(previous))) <= TOLERANCE
            assert abs(ks_prev - ks_statistic(window, previous)) <= TOLERANCE
        assert scores_rows == sum(len(clean[b]) for b in range(iteration + 1))
    # scores drift upward in the real feed: the last window sits well above the first in every industry
    assert all(r[14] > 0 for r in rows if r[0] == LAST)


def test_export_writes_the_marts_as_parquet(built: Path, tmp_path: Path):
    written = export_tables(built, tmp_path / "out", ("scores", "percentile_history"))
    assert [p.name for p in written] == ["scores.parquet", "percentile_history.parquet"]
    assert len(pd.read_parquet(written[0])) == 7837
    assert len(pd.read_parquet(written[1])) == query(built, "select count(*) from percentile_history")[0][0]


MARTS = {
    "scores": "id",
    "percentile_history": "iteration, id",
    "industry_distribution_history": "iteration, industry",
    "score_rejects": "batch, record_index",
}


def mart(duckdb_warehouse: Path, table: str) -> pd.DataFrame:
    con = __import__("duckdb").connect(str(duckdb_warehouse), read_only=True)
    try:
        frame = (
            con.execute(f"select * exclude (loaded_at) from {table} order by {MARTS[table]}").df()
            if table == "score_rejects"
            else con.execute(f"select * from {table} order by {MARTS[table]}").df()
        )
    finally:
        con.close()
    return frame


@pytest.mark.slow
def test_one_batch_at_a_time_equals_all_at_once(built: Path, tmp_path: Path):
    duckdb_warehouse = DuckDBWarehouse(tmp_path / "one_at_a_time.duckdb")
    dbt = Dbt(duckdb_warehouse, tmp_path / "target")
    for path in batch_files(REAL_SCORE_BATCHES):
        with connect(duckdb_warehouse) as con:
            ensure_raw_tables(con)
            assert land_score_batch(con, path).status == "landed"
        # the models and their data tests on every batch; the unit tests, which read fixed inputs and never the
        # warehouse, once at the end (every run of them is the same; 20 runs were a third of this test's time)
        dbt("build", "--select", SCORE_PIPELINE, "--exclude-resource-type", "unit_test")
        if path.name == "batch_1.json":  # cold start: two batches, no percentiles yet
            assert query(duckdb_warehouse, "select count(*) from scores") == [(0,)]
            assert query(duckdb_warehouse, "select count(*) from percentile_history") == [(0,)]
    # a build with nothing new appends nothing
    dbt("build", "--select", SCORE_PIPELINE)
    for table in MARTS:
        pd.testing.assert_frame_equal(mart(duckdb_warehouse, table), mart(built, table), check_exact=True)
