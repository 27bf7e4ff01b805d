"""`make bench-engines`' score pipeline at scale, on DuckDB at the smallest sizes: every step runs, the pandas loop
writes as many rows as the rebuild's percentile_history holds, each size's new batch is really new, and the
figures are drawn."""

from __future__ import annotations

from pathlib import Path

from benchmarks.engines import table
from benchmarks.scores.scale import bench_scale
from benchmarks.scores.scale_figure import draw
from warehouse.duckdb_file import connect


def test_the_scale_benchmark_runs_end_to_end_on_duckdb(tmp_path: Path):
    results = bench_scale([3, 4], rows=60, targets=["duckdb"], workdir=tmp_path, pandas=True)

    assert [(r["target"], r["batches"], r["rows"]) for r in results] == [("duckdb", 3, 180), ("duckdb", 4, 240)]
    with connect(tmp_path / "duckdb" / "warehouse.duckdb", read_only=True) as con:
        # after the last size's new batch: batches 0..4 landed, iterations 2..4 built
        assert con.execute("select count(distinct batch) from raw.score_batches").fetchone()[0] == 5
        assert con.execute("select min(iteration), max(iteration) from percentile_history").fetchone() == (2, 4)
        over_four = con.execute("select count(*) from percentile_history where iteration <= 3").fetchone()[0]
    # the loop ran on the clean rows of batches 0..3 (batch 4 held back), as the rebuild at size 4 did
    assert results[1]["pandas"]["rows"] == over_four > 0
    for result in results:
        assert result["full"]["wall"] > 0 and result["new"]["wall"] > 0 and result["full"]["peak_gib"] > 0

    figure = tmp_path / "scale.png"
    draw(results, figure)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| pandas loop + write | 4 |" in table(results)
