"""Fixtures shared by the test folders, and the markers each folder sets. What tests import comes from
tests/support/, never from here."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.support.data import REAL_DATA, REAL_DOCUMENT, REAL_SCORE_BATCHES, require_real, write_search_data
from tests.support.warehouses import Dbt, SearchWarehouse, make_run_and_export
from warehouse import DuckDBWarehouse

# tests never see the developer's trained or promoted models (artifacts/models/CURRENT would change the
# embedding model every test expects): a fresh, empty artifacts folder for the whole session
os.environ["ARTIFACTS_DIR"] = tempfile.mkdtemp(prefix="test_artifacts_")
# dbt run without a target folder of its own writes the session's, never the checkout's target/: `make test` runs
# two pytest processes at once, and two dbt processes must not share one manifest and partial-parse cache
os.environ["DBT_TARGET_PATH"] = tempfile.mkdtemp(prefix="test_dbt_target_")
os.environ["DBT_LOG_PATH"] = os.environ["DBT_TARGET_PATH"] + "/logs"

# pytest registers these modules' fixtures as it does this file's (shared by a folder's module and the engines')
pytest_plugins = ["tests.support.blank_text", "tests.support.score_grammar"]

TESTS = Path(__file__).parent
# every test under tests/engines/<engine>/ carries the engine's marker: `make test` runs them in a process of their
# own (they start servers and Spark), `make test-fast` leaves them out
ENGINE_FOLDERS = {"postgres": TESTS / "engines" / "postgres", "spark": TESTS / "engines" / "spark"}


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(items) -> None:
    for item in items:
        for marker, folder in ENGINE_FOLDERS.items():
            if folder in item.path.parents:
                item.add_marker(marker)


@pytest.fixture(scope="session")
def real_run_data(tmp_path_factory) -> Path:
    """A DATA_DIR of the 20 real batches and the real document 12345 (links into the shared data)."""
    documents = require_real(REAL_DATA / "documents")
    data = tmp_path_factory.mktemp("real_run") / "data"
    (data / "documents").mkdir(parents=True)
    (data / "score_batches").symlink_to(require_real(REAL_SCORE_BATCHES))
    for name in (f"texts_{REAL_DOCUMENT}.json", f"pages_{REAL_DOCUMENT}.csv"):
        (data / "documents" / name).symlink_to(documents / name)
    return data


@pytest.fixture(scope="session")
def duckdb_reference_run(real_run_data) -> dict:
    """`make run` + `make export` on DuckDB over real_run_data: what the other targets are compared with (run
    once for every engine's test module)."""
    run = make_run_and_export(real_run_data.parent / "duckdb", real_run_data, "duckdb", {})
    return {**run, "warehouse": DuckDBWarehouse(run["folder"] / "warehouse.duckdb")}


@pytest.fixture
def warehouse(tmp_path: Path) -> DuckDBWarehouse:
    return DuckDBWarehouse(tmp_path / "warehouse.duckdb")


@pytest.fixture
def dbt(warehouse: DuckDBWarehouse, tmp_path: Path) -> Dbt:
    return Dbt(warehouse, tmp_path / "dbt_target")


@pytest.fixture(scope="session")
def search_warehouse(tmp_path_factory) -> SearchWarehouse:
    from landing.land import land_all
    from pipeline.publish import publish

    built = SearchWarehouse(tmp_path_factory.mktemp("search"))
    write_search_data(built.data_dir)
    land_all(built.data_dir, built.warehouse)
    built.dbt("build")
    publish(built.warehouse, built.published_path)
    return built


@pytest.fixture(scope="session")
def interests_and_search_warehouse(tmp_path_factory):
    """The sample interests (trained model, mart) and the search sources, built and published as `make run` does:
    one build for the modules that read it (tests/serving/test_api_contract.py, tests/serving/test_interests_api.py),
    which copy it before changing anything."""
    from tests.support.interests_warehouse import InterestsWarehouse

    return InterestsWarehouse.build(tmp_path_factory.mktemp("interests_and_search"), more_data=write_search_data)
