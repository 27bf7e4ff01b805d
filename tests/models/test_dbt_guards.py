"""The dbt project's guards bite: an enforced contract stops a mart whose column type or nullability changes
upstream, and the conservation test `rows_accounted_for` catches a corpus passage that is lost, counted twice
or invented.

One scratch warehouse of tiny raw tables and the few models the cases need (views and small tables: seconds,
the model's tokenizer but no embedding) is built and checked intact first, so a case can only fail for the
change it makes. Each case restores that intact copy to the same path and runs dbt with the same target folder:
same profile, so dbt's partial parsing saves most of a parse per run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from tests.support.warehouses import Dbt, raw_warehouse
from warehouse.duckdb_file import connect

RAW_ROWS = (
    "insert into raw.corpus_queries values ('tiny', 'q1', 'what is a passage', 'queries.jsonl', now())",
    "insert into raw.corpus_qrels values ('tiny', 'q1', 'p1', 2, 'qrels.tsv', now())",
    "insert into raw.corpus_passages values "
    "('tiny', 'p1', 0, '', 'a passage', 'corpus.jsonl', 'h', now()), "
    "('tiny', 'p2', 1, '', ' \t ', 'corpus.jsonl', 'h', now()), "  # blank: a corpus reject
    "('tiny', 'p3', 2, 'A title', 'another passage', 'corpus.jsonl', 'h', now()), "
    "('tiny', 'p4', 3, '', '\ue000\u0301', 'corpus.jsonl', 'h', now())",  # no model token: a corpus reject
)
MODELS = ("+corpus_queries", "+corpus_qrels", "+corpus_rejects", "+int_text_units")
CONSERVATION = ("test", "--select", "stg_corpus_passages,test_name:rows_accounted_for")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> tuple[Dbt, Path]:
    """dbt on the scratch warehouse, and the intact copy of it (built, its corpus conservation test passing)."""
    folder = tmp_path_factory.mktemp("guards")
    dbt = raw_warehouse(folder, lambda con: [con.execute(statement) for statement in RAW_ROWS])
    dbt("run", "--select", *MODELS)
    assert "PASS=1" in dbt(*CONSERVATION).stdout
    intact = folder / "intact.duckdb"
    shutil.copy(dbt.warehouse, intact)
    return dbt, intact


def changed(scratch: tuple[Dbt, Path], *statements: str) -> Dbt:
    """The intact warehouse back in place, then `statements` run against it."""
    dbt, intact = scratch
    shutil.copy(intact, dbt.warehouse)
    with connect(dbt.warehouse) as con:
        for statement in statements:
            con.execute(statement)
    return dbt


@pytest.mark.parametrize(
    ("model", "upstream_change", "failure"),
    [
        # the grade column arrives as BIGINT: without the contract corpus_qrels would silently change type
        (
            "corpus_qrels",
            ["alter table raw.corpus_qrels alter grade type bigint"],
            "This model has an enforced contract that failed",
        ),
        # a query without text: the not_null constraint refuses the row
        (
            "corpus_queries",
            [
                "alter table raw.corpus_queries alter text drop not null",
                "insert into raw.corpus_queries values ('tiny', 'q2', null, 'queries.jsonl', now())",
            ],
            "NOT NULL constraint failed",
        ),
    ],
    ids=["column_type", "null_in_not_null_column"],
)
def test_a_contract_stops_a_mart_whose_columns_change(scratch, model, upstream_change, failure):
    dbt = changed(scratch, *upstream_change)
    result = dbt("run", "--select", model, expect_success=False)
    assert result.returncode != 0
    assert f"ERROR creating sql table model main.{model}" in result.stdout, result.stdout[-3000:]
    failure_lines = [line for line in result.stdout.splitlines() if failure in line]
    assert failure_lines, result.stdout[-3000:]
    column = "grade" if model == "corpus_qrels" else "query_text"
    assert column in result.stdout.split(failure, 1)[1], result.stdout[-3000:]  # the message names the column


def test_a_passage_is_indexed_or_rejected_with_its_reason(scratch):
    """A blank passage is rejected as blank_text; one the model's tokenizer reads as nothing (a private-use glyph,
    a combining mark: not blank) has no chunk and is rejected as no_model_tokens; the others are chunked."""
    dbt, intact = scratch
    con = duckdb.connect(str(intact), read_only=True)
    try:
        rejects = con.execute("select passage_id, reason from corpus_rejects order by 1").fetchall()
        chunked = con.execute("select unit_id from int_text_chunks where source = 'corpus' order by 1").fetchall()
    finally:
        con.close()
    assert rejects == [("p2", "blank_text"), ("p4", "no_model_tokens")]
    assert chunked == [("p1",), ("p3",)]


@pytest.mark.parametrize(
    ("corruption", "problem"),
    [
        ("delete from corpus_rejects where passage_id = 'p2'", "lost"),
        ("insert into corpus_rejects values ('tiny', 'p3', 2, 'blank_text')", "duplicated"),
        ("insert into corpus_rejects values ('tiny', 'p9', 9, 'blank_text')", "invented"),
    ],
)
def test_every_corpus_passage_is_indexed_or_rejected_exactly_once(scratch, corruption, problem):
    dbt = changed(scratch, corruption)
    result = dbt(*CONSERVATION, expect_success=False)
    assert result.returncode != 0 and "FAIL 1" in result.stdout, result.stdout[-3000:]
    compiled = next((dbt.target_path / "compiled").rglob("rows_accounted_for*.sql")).read_text()
    con = duckdb.connect(str(dbt.warehouse), read_only=True)
    try:
        (row,) = con.execute(compiled).fetchall()
    finally:
        con.close()
    assert row[-1].startswith(problem)
