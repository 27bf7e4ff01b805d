"""A scratch warehouse built from the sample interests only (2,000 users, 300 interests) as `make run` builds it:
landed, dbt build of all but the mart, the interest model trained on it with its CLI into a scratch artifacts
folder, the mart, published. Used by
tests/serving/test_interests_api.py (its fixtures stay there): the warehouse, the sample files, the published rows and
a copy published without the interest mart."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import duckdb

from core.settings import PROJECT_ROOT
from landing.land import land_all
from pipeline.dbt_runner import run_dbt
from pipeline.publish import publish
from tests.support.warehouses import query
from warehouse import DuckDBWarehouse

SAMPLE_INTERESTS = PROJECT_ROOT / "sample_data" / "interests"


def read_csv(name: str) -> list[dict[str, str]]:
    with (SAMPLE_INTERESTS / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


class InterestsWarehouse:
    def __init__(self, folder: Path):
        self.folder = folder
        self.data_dir = folder / "data"
        self.artifacts_dir = folder / "artifacts"
        self.warehouse = DuckDBWarehouse(folder / "warehouse.duckdb")
        self.published_path = folder / "warehouse.published.duckdb"
        self.model_folder: Path | None = None

    @classmethod
    def build(cls, folder: Path, more_data: Callable[[Path], None] | None = None) -> "InterestsWarehouse":
        """As `make run` builds it: land, dbt build of all but the mart, the interest model trained on that
        warehouse with its CLI, the mart, publish. `more_data(data_dir)` writes other sources beside the
        interests (tests/serving/test_api_contract.py: the search sources)."""
        warehouse = cls(folder)
        shutil.copytree(SAMPLE_INTERESTS, warehouse.data_dir / "interests")
        if more_data is not None:
            more_data(warehouse.data_dir)
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "ARTIFACTS_DIR": str(warehouse.artifacts_dir),
            "DBT_TARGET": "duckdb",
            "DUCKDB_PATH": str(warehouse.warehouse),
        }
        land_all(warehouse.data_dir, warehouse.warehouse)
        run_dbt(
            warehouse.warehouse,
            ["build", "--exclude", "user_interest_scores+"],
            warehouse.folder / "target",
            extra_env={"ARTIFACTS_DIR": str(warehouse.artifacts_dir)},
        )
        training = subprocess.run(
            [sys.executable, "-m", "training.interests", "--artifacts-dir", str(warehouse.artifacts_dir)],
            cwd=PROJECT_ROOT,
            env=env,
            text=True,
            capture_output=True,
        )
        assert training.returncode == 0, training.stdout[-3000:] + training.stderr[-3000:]
        warehouse.model_folder = latest_model_folder(warehouse.artifacts_dir)
        run_dbt(
            warehouse.warehouse,
            ["build", "--select", "user_interest_scores+"],
            warehouse.folder / "target",
            extra_env=warehouse.dbt_env(),
        )
        publish(warehouse.warehouse, warehouse.published_path)
        return warehouse

    def published_rows(self, handle: str) -> list[tuple[str, str, float, int]]:
        """The user's published rows (interest_id, label, probability, rank), most likely first."""
        return query(
            self.published_path,
            "select interest_id, label, probability, rank from user_interest_scores where user_handle = ? "
            "order by probability desc, rank",
            [handle],
        )

    def dbt_env(self) -> dict[str, str]:
        # the checkout on PYTHONPATH: the dbt Python model imports `training`, which an editable install made
        # before that package existed does not map (`make setup` reinstalls; this works either way)
        python_path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
        return {
            "INTERESTS_MODEL": str(self.model_folder),
            "ARTIFACTS_DIR": str(self.artifacts_dir),
            "PYTHONPATH": python_path,
        }


def latest_model_folder(artifacts_dir: Path) -> Path:
    """The version folder artifacts/interests/LATEST names (a version name or a path)."""
    latest = (artifacts_dir / "interests" / "LATEST").read_text().strip()
    folder = Path(latest)
    if not folder.is_absolute():
        folder = artifacts_dir / "interests" / latest
    assert folder.is_dir(), f"LATEST names {latest!r}, which is not a folder"
    return folder


def publish_without_the_mart(source: Path, target: Path) -> None:
    """`target` becomes a copy of `source` without user_interest_scores, as publish writes it after a partial
    build (search_chunks only), swapped in atomically like publish does."""
    staging = target.with_name(f".{target.name}.tmp")
    shutil.copy(source, staging)
    con = duckdb.connect(str(staging))
    con.execute("drop table user_interest_scores")
    con.execute("update publication set published_at = now()")  # a new publication, as publish would write
    con.execute("checkpoint")
    con.close()
    os.replace(staging, target)
