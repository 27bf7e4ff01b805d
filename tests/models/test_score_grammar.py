"""One numeric grammar on every engine (macros/numbers.sql): the same edge values, landed in a real batch as JSON
numbers and strings, get the same verdict and the same double on DuckDB, Postgres and Spark, and the verdict the
grammar states; windows holding the largest finite doubles and deviations beyond 1.3e154 build on every engine
(Postgres raised "value out of range: overflow" on them) with the same marts (tests/engines/*/test_*_score_grammar.py).
"""

from __future__ import annotations

from tests.support.score_grammar import LARGEST, assert_the_grammar


def test_duckdb_follows_the_grammar_and_builds_the_extremes(grammar_duckdb_run):
    assert_the_grammar(grammar_duckdb_run)
    with grammar_duckdb_run.open(read_only=True) as con:
        # the window with both largest doubles: its sum, mean and spread overflow to infinity, nothing fails
        stats = con.execute(
            "select n, mean, stddev, max from int_score_window_statistics where iteration = 2 "
            "and max = 1.7976931348623157e308"
        ).fetchall()
    assert len(stats) == 1 and stats[0][3] == LARGEST
