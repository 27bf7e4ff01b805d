"""The GX data docs open in a real (headless) browser and show every suite.

Needs Chromium (`apt-get install -y --no-install-recommends chromium` on Debian); skipped when none is found.
The docs load their CSS/JS from CDNs, so offline they render unstyled: the test checks the DOM, not the looks.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from quality.expectations import SUITES
from tests.support.quality import gx_project, run_checkpoint

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


def test_data_docs_show_every_suite_in_a_browser(tmp_path: Path):
    browser = find_browser()
    if browser is None:
        pytest.skip(f"no Chromium found on PATH (looked for {', '.join(BROWSERS)})")
    # a tiny warehouse: only `scores` exists, the other suites are skipped but still listed in the docs
    duckdb_path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(duckdb_path))
    con.execute(
        "create table scores as select * from (values "
        "('01GHE8RA00CYMQRSE1WP1E5SK2', 0.4, 'cars', 3, 50.0, 48.0, 3), "
        "('01GHE8RA01WH1SAP46FXDTJ7XF', 0.6, 'food', 3, 100.0, 90.0, 3)"
        ") t(id, score, industry, batch, percentile, normal_percentile, updated_iteration)"
    )
    con.close()
    gx_dir = gx_project(tmp_path)
    result = run_checkpoint(duckdb_path, gx_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    index = gx_dir / "uncommitted" / "data_docs" / "local_site" / "index.html"
    screenshot = tmp_path / "data_docs.png"
    shown = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={screenshot}",
            "--window-size=1280,900",
            "--dump-dom",
            index.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    dom = shown.stdout
    assert "Data Docs" in dom and "Validation Results" in dom and "Expectation Suites" in dom
    for make in SUITES:
        assert make()["name"] in dom
    assert screenshot.stat().st_size > 0
