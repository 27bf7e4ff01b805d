"""DBT_TARGET=postgres proves itself as DuckDB does: the 20 real batches landed through the same loaders, the same
score pipeline built by dbt-postgres, and the marts equal DuckDB's (floats within 1e-9, everything else exact).

The test starts its own throwaway server (ingestion.engines.postgres.LocalPostgres under .engines/, never the
developer's) and stops it at the end, so CI needs nothing running beforehand.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmarks.scores.dbt_timing import SCORE_PIPELINE
from ingestion.dbt_runner import run_dbt
from ingestion.land import ensure_raw_tables
from ingestion.score_batches import land_score_batch, land_score_batches, batch_files
from ingestion.settings import PROJECT_ROOT
from ingestion.warehouse import LandingError, connect, connect_postgres
from tests.conftest import REAL_SCORE_BATCHES, require_real, throwaway_postgres
from tests.score_marts import MARTS, assert_same, read

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def postgres():
    yield from throwaway_postgres("postgres-test")


def build_postgres(postgres, folder: Path) -> None:
    run_dbt(["build", "--select", SCORE_PIPELINE], folder / "unused.duckdb", folder / "target_pg",
            target="postgres", postgres=postgres)


@pytest.fixture(scope="module")
def built(postgres, tmp_path_factory):
    """The 20 real batches landed into DuckDB and into Postgres, the score pipeline built on each."""
    require_real(REAL_SCORE_BATCHES)
    folder = tmp_path_factory.mktemp("postgres_target")
    duckdb_path = folder / "warehouse.duckdb"
    with connect(duckdb_path) as con:
        ensure_raw_tables(con)
        land_score_batches(con, REAL_SCORE_BATCHES)
    run_dbt(["build", "--select", SCORE_PIPELINE], duckdb_path, folder / "target_duckdb")
    with connect_postgres(postgres.dsn()) as con:
        ensure_raw_tables(con)
        land_score_batches(con, REAL_SCORE_BATCHES)
    build_postgres(postgres, folder)
    return duckdb_path, folder


@pytest.mark.parametrize("table", list(MARTS))
def test_postgres_marts_equal_duckdb(built, postgres, table):
    duckdb_path, _ = built
    with connect(duckdb_path, read_only=True) as con:
        ours = read(con, table)
    with connect_postgres(postgres.dsn(), read_only=True) as con:
        theirs = read(con, table)
    assert_same(ours, theirs, table)


def test_a_second_build_appends_nothing(built, postgres):
    _, folder = built
    with connect_postgres(postgres.dsn(), read_only=True) as con:
        before = {table: con.execute(f"select count(*) from {table}").fetchone()[0] for table in MARTS}
    build_postgres(postgres, folder)
    with connect_postgres(postgres.dsn(), read_only=True) as con:
        after = {table: con.execute(f"select count(*) from {table}").fetchone()[0] for table in MARTS}
    assert after == before
    assert before["scores"] == 7837 and before["score_rejects"] == 163


def test_landing_is_atomic_and_idempotent_on_postgres(built, postgres):
    """Landed again: nothing added; a refused file (a landed batch number, other content): nothing changed."""
    _, folder = built
    conflicting = folder / "conflict" / "batch_19.json"
    conflicting.parent.mkdir()
    conflicting.write_text((REAL_SCORE_BATCHES / "batch_18.json").read_text())
    with connect_postgres(postgres.dsn()) as con:
        count = lambda: con.execute("select count(*) from raw.score_batches").fetchone()[0]  # noqa: E731
        before = count()
        assert {r.status for r in land_score_batches(con, REAL_SCORE_BATCHES)} == {"already landed"}
        with pytest.raises(LandingError, match="already landed from"):
            land_score_batch(con, conflicting)
        assert count() == before == 8000
        assert len(batch_files(REAL_SCORE_BATCHES)) == 20


# ---------------------------------------------------------------- the document path: chunks, pages, vectors

REAL_DOCUMENT = "12345"
DOCUMENT_SELECTION = ["build", "--select", "+document_chunks", "+document_rejects", "--indirect-selection", "buildable"]


@pytest.fixture(scope="module")
def documents_built(postgres, tmp_path_factory):
    """Document 12345 landed into DuckDB and into Postgres, document_chunks built on each (the Python models run
    through dbt-duckdb on DuckDB, through the postgres_python output on Postgres)."""
    from ingestion.documents import land_documents
    from tests.conftest import REAL_DATA

    documents = require_real(REAL_DATA / "documents")
    folder = tmp_path_factory.mktemp("postgres_documents")
    (folder / "documents").mkdir()
    for name in (f"texts_{REAL_DOCUMENT}.json", f"pages_{REAL_DOCUMENT}.csv"):
        shutil.copy(documents / name, folder / "documents" / name)
    duckdb_path = folder / "warehouse.duckdb"
    with connect(duckdb_path) as con:
        ensure_raw_tables(con)
        land_documents(con, folder / "documents")
    run_dbt(DOCUMENT_SELECTION, duckdb_path, folder / "target_duckdb")
    with connect_postgres(postgres.dsn()) as con:
        ensure_raw_tables(con)
        land_documents(con, folder / "documents")
    first = run_dbt(DOCUMENT_SELECTION, folder / "unused.duckdb", folder / "target_pg", target="postgres",
                    postgres=postgres)
    assert "3596 chunks to encode, 0 already encoded" in first.stdout
    return duckdb_path


def test_document_chunks_equal_duckdb(documents_built, postgres):
    order = "order by doc_id, source_position, chunk_index"
    columns = "doc_id, chunk_id, chunk_index, source_position, text, pages, token_count, content_hash, model_id"
    with connect(documents_built, read_only=True) as con:
        ours = con.execute(f"select {columns}, embedding from document_chunks {order}").fetchall()
        rejects = con.execute("select * from document_rejects order by all").fetchall()
    with connect_postgres(postgres.dsn(), read_only=True) as con:
        # pgvector's vector reaches DuckDB as its text form
        theirs = con.execute(
            f"select {columns}, cast(embedding as float[384]) from document_chunks {order}").fetchall()
        their_rejects = con.execute("select * from document_rejects order by all").fetchall()
        index = con.execute("select count(*) from postgres_query('warehouse', "
                            "'select 1 from pg_indexes where tablename = ''document_chunks'' and indexdef like ''%hnsw%''')").fetchone()
    assert len(ours) == len(theirs) > 0
    assert [row[:-1] for row in theirs] == [row[:-1] for row in ours]  # chunks, pages, hashes, model id
    a = np.array([row[-1] for row in ours], np.float64)
    b = np.array([row[-1] for row in theirs], np.float64)
    cosine = (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() >= 0.9999, cosine.min()
    assert their_rejects == rejects
    assert index == (1,)


def test_a_second_build_embeds_nothing(documents_built, postgres):
    """A second `make run` on Postgres embeds 0 chunks: text_embeddings (through the postgres_python output) finds
    every (content_hash, model_id) already in Postgres and appends nothing."""
    folder = documents_built.parent
    count = "select count(*) from text_embeddings"
    with connect_postgres(postgres.dsn(), read_only=True) as con:
        before = con.execute(count).fetchone()
    second = run_dbt(DOCUMENT_SELECTION, folder / "unused.duckdb", folder / "target_pg", target="postgres",
                     postgres=postgres)
    assert "0 chunks to encode, 3596 already encoded" in second.stdout
    with connect_postgres(postgres.dsn(), read_only=True) as con:
        assert con.execute(count).fetchone() == before == (3596,)


# ---------------------------------------------------------------- safe_cast_double: never raising, as DuckDB's try_cast

CAST_CASES = ["0.471", "-3.2e-5", "99999", "error", "", " ", None, "1e400", "-1e400", "1e-400", "1e99999", "1e-99999",
              "1e999999999", "0e999999", " 0.5 ", "\t1\n", "NaN", "inf", "-Infinity", "+.5", "5.", "1E5", "1e+05", "0x10",
              "1.7976931348623157e308", "1.7976931348623159e308", "2.4703282292062328e-324", "2.47e-324", "4.9e-324",
              "1e-310", "1" + "0" * 400, "12abc", ".", "-", "e5", "1e"]
# where the Postgres macro knowingly differs (see macros/portability.sql)
CAST_DIFFERENCES = {"-1e-400": (-0.0, 0.0), "-0": (-0.0, 0.0), "1_000": (1000.0, None)}


def test_safe_cast_double_matches_try_cast_and_never_raises(postgres, tmp_path):
    import math
    import os
    import subprocess
    import sys

    import duckdb

    def compiled(target: str) -> str:
        env = {**os.environ, **postgres.env(), "DBT_PROFILES_DIR": str(PROJECT_ROOT),
               "DUCKDB_PATH": str(tmp_path / "unused.duckdb")}
        result = subprocess.run(
            [str(Path(sys.executable).parent / "dbt"), "compile", "--quiet", "--target", target,
             "--target-path", str(tmp_path / target), "--log-path", str(tmp_path / target / "logs"),
             "--inline", "select i, {{ safe_cast_double('s') }} as v from cases order by i"],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout.strip()

    cases = [*CAST_CASES, *CAST_DIFFERENCES]
    rows = list(enumerate(cases))
    con = duckdb.connect()
    con.execute("create table cases (i integer, s varchar)")
    con.executemany("insert into cases values (?, ?)", rows)
    ours = [v for _, v in con.execute(compiled("duckdb")).fetchall()]
    with connect_postgres(postgres.dsn()) as pg:
        pg.execute("create or replace table cases (i integer, s varchar)")
        pg.executemany("insert into cases values (?, ?)", rows)
        sql = compiled("postgres").replace("'", "''")
        theirs = [v for _, v in pg.execute(f"select * from postgres_query('warehouse', '{sql}')").fetchall()]
        pg.execute("drop table cases")

    def same(a, b):
        if a is None or b is None:
            return a is b
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))

    for text, a, b in zip(cases, ours, theirs):
        if text in CAST_DIFFERENCES:
            assert (a, b) == CAST_DIFFERENCES[text], text
        else:
            assert same(a, b), (text, a, b)


def test_two_loaders_at_once_queue_up(postgres, tmp_path):
    """Postgres takes writers from many processes (a DuckDB file takes one): two landings of the 20 batches started
    together into a fresh raw schema end with one landing them and the other finding them landed, no error."""
    import os
    import subprocess
    import sys

    require_real(REAL_SCORE_BATCHES)
    with connect_postgres(postgres.dsn()) as con:
        con.execute("call postgres_execute('warehouse', 'drop schema if exists raw cascade')")
    script = (
        "import sys\nfrom pathlib import Path\n"
        "from ingestion.engines.postgres import Connection\n"
        "from ingestion.land import ensure_raw_tables\n"
        "from ingestion.score_batches import land_score_batches\n"
        "from ingestion.warehouse import connect_postgres\n"
        "with connect_postgres(sys.argv[1]) as con:\n"
        "    ensure_raw_tables(con)\n"
        "    print(sorted({r.status for r in land_score_batches(con, Path(sys.argv[2]))}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    loaders = [subprocess.Popen([sys.executable, "-c", script, postgres.dsn(), str(REAL_SCORE_BATCHES)], cwd=tmp_path,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [loader.communicate(timeout=120) for loader in loaders]
    assert [loader.returncode for loader in loaders] == [0, 0], outcomes
    assert sorted(out.strip() for out, _ in outcomes) == ["['already landed']", "['landed']"], outcomes
    with connect_postgres(postgres.dsn(), read_only=True) as con:
        assert con.execute("select count(*) from raw.score_batches").fetchone() == (8000,)
