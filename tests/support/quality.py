"""The GX checkpoint as its command line runs it, on a copy of the committed GX project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from core.settings import PROJECT_ROOT
from quality.checkpoint import GX_DIR


def gx_project(folder: Path) -> Path:
    """A copy of the committed GX project (config and suites), so results and docs stay out of the checkout."""
    target = folder / "gx"
    target.mkdir(parents=True)
    shutil.copy(GX_DIR / "great_expectations.yml", target)
    shutil.copytree(GX_DIR / "expectations", target / "expectations")
    return target


def run_checkpoint(duckdb_path: Path, gx_dir: Path, embedding_model: str = "") -> subprocess.CompletedProcess:
    """The checkpoint's command line on the DuckDB file `duckdb_path`; `embedding_model` as EMBEDDING_MODEL (empty:
    the packaged 384-d model)."""
    return subprocess.run(
        [sys.executable, "-m", "quality.checkpoint", "--gx-dir", str(gx_dir)],
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "GX_ANALYTICS_ENABLED": "false",
            "EMBEDDING_MODEL": embedding_model,
            "DBT_TARGET": "duckdb",
            "DUCKDB_PATH": str(duckdb_path),
        },
        text=True,
        capture_output=True,
    )
