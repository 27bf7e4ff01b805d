"""The monitoring report (quality.report) built from the embedded sample: real plots, the mart's own numbers,
and a clear failure when there is nothing to report on."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import duckdb
import matplotlib

matplotlib.use("Agg")

import matplotlib.image  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from benchmarks.scores.dbt_timing import SCORE_PIPELINE  # noqa: E402
from core.settings import PROJECT_ROOT  # noqa: E402
from landing.land import ensure_raw_tables  # noqa: E402
from landing.score_batches import land_score_batches  # noqa: E402
from quality.report import DISTRIBUTION_PNG, DRIFT_PNG, GROWTH_PNG, REPORT_MD, main  # noqa: E402
from tests.support.warehouses import Dbt, query  # noqa: E402
from warehouse import DuckDBWarehouse  # noqa: E402
from warehouse.duckdb_file import connect  # noqa: E402

SAMPLE = PROJECT_ROOT / "sample_data"
PNGS = (DISTRIBUTION_PNG, DRIFT_PNG, GROWTH_PNG)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sample_warehouse(tmp_path_factory) -> Path:
    """The sample's score batches landed and only the score pipeline built (the marts the report reads)."""
    folder = tmp_path_factory.mktemp("report_sample")
    warehouse = DuckDBWarehouse(folder / "warehouse.duckdb")
    with warehouse.open() as con:
        ensure_raw_tables(con)
        land_score_batches(con, SAMPLE / "score_batches")
    Dbt(warehouse, folder / "target")("build", "--select", SCORE_PIPELINE)
    return warehouse


@pytest.fixture(scope="module")
def report_dir(sample_warehouse, tmp_path_factory) -> Path:
    output_dir = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DUCKDB_PATH", str(sample_warehouse))
        assert main(["--output-dir", str(output_dir)]) == 0
    return output_dir


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("name", PNGS)
def test_each_plot_is_a_drawn_png(report_dir, name):
    path = report_dir / name
    assert path.is_file(), f"{name} not written"
    assert path.stat().st_size > 10_000, f"{name} is only {path.stat().st_size} bytes"
    width, height = png_size(path)
    assert width > 400 and height > 400, (width, height)
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (height, width)
    # something was drawn: many distinct colours (lines, bands, text), not a blank canvas
    colours = np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50, f"{name} has only {len(colours)} colours"


def test_markdown_embeds_the_plots_and_the_marts_figures(report_dir, sample_warehouse):
    text = (report_dir / REPORT_MD).read_text()
    for name in PNGS:
        assert f"]({name})" in text, f"{name} not embedded by relative path"
    industries = [
        row[0] for row in query(sample_warehouse, "select distinct industry from industry_distribution_history")
    ]
    assert len(industries) == 4
    for industry in industries:
        assert f"| {industry} |" in text, f"{industry} missing from the report"
    ((last, scores_rows),) = query(
        sample_warehouse,
        "select iteration, max(scores_rows) from industry_distribution_history "
        "where iteration = (select max(iteration) from industry_distribution_history) group by iteration",
    )
    assert f"At iteration {last}: `scores` has {scores_rows} rows" in text
    ((actual_scores,),) = query(sample_warehouse, "select count(*) from scores")
    assert actual_scores == scores_rows  # the mart's own figure is the table's size
    ((history_last,),) = query(sample_warehouse, "select count(*) from percentile_history where iteration = ?", [last])
    assert f"`percentile_history` gained {history_last} rows" in text


def test_rerun_gives_the_same_files(monkeypatch, report_dir, sample_warehouse, tmp_path):
    monkeypatch.setenv("DUCKDB_PATH", str(sample_warehouse))
    assert main(["--output-dir", str(tmp_path)]) == 0
    for name in (*PNGS, REPORT_MD):
        assert (tmp_path / name).read_bytes() == (report_dir / name).read_bytes(), name


def test_cli_defaults_to_output_dir_report(sample_warehouse, tmp_path):
    env = {**os.environ, "DUCKDB_PATH": str(sample_warehouse), "OUTPUT_DIR": str(tmp_path / "out")}
    result = subprocess.run(
        [sys.executable, "-m", "quality.report"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out" / "report").iterdir()) == sorted((*PNGS, REPORT_MD))


def test_no_warehouse_exits_1(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DUCKDB_PATH", str(tmp_path / "none.duckdb"))
    assert main(["--output-dir", str(tmp_path / "out")]) == 1
    assert "no warehouse at" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_marts_not_built_exits_1(monkeypatch, tmp_path, capsys):
    duckdb_path = tmp_path / "warehouse.duckdb"
    with connect(duckdb_path) as con:
        ensure_raw_tables(con)  # raw tables only: dbt never ran
    monkeypatch.setenv("DUCKDB_PATH", str(duckdb_path))
    assert main(["--output-dir", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "marts not built" in err and "industry_distribution_history" in err and "percentile_history" in err


def test_empty_marts_exit_1(monkeypatch, tmp_path, capsys):
    duckdb_path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(duckdb_path))
    con.execute("create table industry_distribution_history (iteration integer, industry varchar, scores_rows bigint)")
    con.execute("create table percentile_history (iteration integer, id varchar)")
    con.execute("create table scores (id varchar)")
    con.close()
    monkeypatch.setenv("DUCKDB_PATH", str(duckdb_path))
    assert main(["--output-dir", str(tmp_path / "out")]) == 1
    assert "industry_distribution_history is empty" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
