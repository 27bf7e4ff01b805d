"""A real batch holding the numeric grammar's edge values as JSON numbers and strings, built on DuckDB: what
every engine's verdicts and marts are compared with (fixtures registered by tests/conftest.py)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from benchmarks.scores.dbt_timing import SCORE_PIPELINE
from landing.land import ensure_raw_tables
from landing.score_batches import batch_files, land_score_batch
from pipeline.dbt_runner import run_dbt
from tests.support.data import REAL_SCORE_BATCHES, require_real
from tests.support.score_marts import MARTS, assert_same, read
from warehouse import DuckDBWarehouse

LARGEST = 1.7976931348623157e308


# (the score as written in the JSON file, the reject reason, the clean score) for the records of batch 0
EDGE_SCORES = [
    ('"1_000"', "non_numeric_score", None),
    ('"0x10"', "non_numeric_score", None),
    ('" 1"', "non_numeric_score", None),
    ('"1\\n"', "non_numeric_score", None),  # Java's `$` matched before a final line break
    ('"1d"', "non_numeric_score", None),  # Java's double syntax
    ('""', "non_numeric_score", None),
    ('"error"', "non_numeric_score", None),
    ("true", "non_numeric_score", None),
    ('{"v": 1}', "non_numeric_score", None),
    ('"' + "1" * 1001 + '"', "non_numeric_score", None),  # over the grammar's 1000 characters
    ("null", "missing_score", None),
    ("NaN", "non_finite_score", None),
    ('"Infinity"', "non_finite_score", None),
    ('"-inf"', "non_finite_score", None),
    ("1e400", "out_of_range_score", None),
    ('"-1e400"', "out_of_range_score", None),
    ("1.7976931348623159e308", "out_of_range_score", None),  # rounds to infinity
    ('"1e' + "9" * 990 + '"', "out_of_range_score", None),
    ("1.7976931348623157e308", None, LARGEST),
    ("-1.7976931348623157e308", None, -LARGEST),
    ('"1' + "0" * 300 + '"', None, 1e300),
    ("1e-400", None, 0.0),
    ('"-1e-400"', None, -0.0),
    ("4.9e-324", None, 5e-324),
    ('"+.5"', None, 0.5),
    ('"5."', None, 5.0),
    ("-0", None, -0.0),
    ("0.471", None, 0.471),
]


# batch 2: one industry's window with both extremes and deviations far beyond 1.3e154
EXTREMES = ["1.7976931348623157e308", "-1.7976931348623157e308", "1e200", "-1e200", "1.7976931348623157e308"]


def write_batch(source: Path, target: Path, scores: list[str]) -> None:
    """The real batch `source` with its first records' scores replaced by JSON literals (written verbatim)."""
    records = json.loads(source.read_text())
    for index in range(len(scores)):
        records[index]["score"] = f"@score{index}@"
    text = json.dumps(records)
    for index, score in enumerate(scores):
        text = text.replace(f'"@score{index}@"', score)
    target.write_text(text)


@pytest.fixture(scope="session")
def grammar_data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("score_grammar") / "score_batches"
    folder.mkdir()
    require_real(REAL_SCORE_BATCHES)
    write_batch(REAL_SCORE_BATCHES / "batch_0.json", folder / "batch_0.json", [s for s, _, _ in EDGE_SCORES])
    shutil.copy(REAL_SCORE_BATCHES / "batch_1.json", folder / "batch_1.json")
    batch_2 = json.loads((REAL_SCORE_BATCHES / "batch_2.json").read_text())
    industry = batch_2[0]["industry"]
    indexes = [i for i, record in enumerate(batch_2) if record["industry"] == industry][: len(EXTREMES)]
    for index, score in zip(indexes, EXTREMES):
        batch_2[index]["score"] = f"@{score}@"
    text = json.dumps(batch_2)
    for score in EXTREMES:
        text = text.replace(f'"@{score}@"', score)
    (folder / "batch_2.json").write_text(text)
    return folder


def land_and_build(warehouse, folder: Path, data: Path) -> None:
    with warehouse.open() as con:
        ensure_raw_tables(con)
        for path in batch_files(data):
            land_score_batch(con, path)
    run_dbt(warehouse, ["build", "--select", SCORE_PIPELINE], target_path=folder / "target")


def verdicts(warehouse) -> list[tuple]:
    with warehouse.open(read_only=True) as con:
        return con.execute(
            "select record_index, reject_reason, score from int_score_records_validated where batch = 0 "
            f"and record_index < {len(EDGE_SCORES)} order by record_index"
        ).fetchall()


@pytest.fixture(scope="session")
def grammar_duckdb_run(grammar_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("grammar_duckdb")
    warehouse = DuckDBWarehouse(folder / "warehouse.duckdb")
    land_and_build(warehouse, folder, grammar_data)
    return warehouse


def assert_the_grammar(warehouse) -> None:
    for (index, reason, score), (text, expected_reason, expected_score) in zip(verdicts(warehouse), EDGE_SCORES):
        assert reason == expected_reason, (text[:40], reason)
        if expected_reason is None:  # the same double, sign of zero included
            assert score == expected_score and math.copysign(1, score) == math.copysign(1, expected_score), (
                text[:40],
                score,
            )


def assert_marts_equal(expected_warehouse, actual_warehouse) -> None:
    for table in MARTS:
        with expected_warehouse.open(read_only=True) as con:
            expected = read(con, table)
        with actual_warehouse.open(read_only=True) as con:
            actual = read(con, table)
        assert_same(expected, actual, table)
