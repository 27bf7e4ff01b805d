"""DBT_TARGET=postgres proves itself as DuckDB does: `make run` then `make export` on each target over the 20 real
batches and the real document 12345, and the marts, exports and `ingest()` equal DuckDB's (floats within 1e-9,
vectors of cosine >= 0.9999, everything else exact).

The test starts its own throwaway server (warehouse.local_postgres.LocalPostgres under .engines/, never the
developer's) and stops it at the end, so CI needs nothing running beforehand.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.scores.dbt_timing import SCORE_PIPELINE
from core.settings import PROJECT_ROOT
from landing.score_batches import batch_files, land_score_batch, land_score_batches
from pipeline.dbt_runner import run_dbt
from tests.support.data import REAL_DOCUMENT, REAL_SCORE_BATCHES, require_real
from tests.support.score_marts import EXPORTS, MARTS, assert_exports_match, assert_marts_match
from tests.support.warehouses import make, make_run_and_export, throwaway_postgres
from warehouse import PostgresWarehouse
from warehouse.errors import LandingError
from warehouse.postgres import connect_postgres


@pytest.fixture(scope="module")
def postgres():
    yield from throwaway_postgres("postgres-test")


def build_postgres(postgres, folder: Path) -> None:
    run_dbt(PostgresWarehouse(postgres), ["build", "--select", SCORE_PIPELINE], target_path=folder / "target_pg")


@pytest.fixture(scope="module")
def runs(postgres, duckdb_reference_run, tmp_path_factory) -> dict[str, dict]:
    """`make run` then `make export` on each target over one DATA_DIR: the 20 real batches and document 12345 (the
    packaged model). Postgres is reached through PG*, as a real server would be (the throwaway one's values)."""
    data = duckdb_reference_run["data"]
    run = make_run_and_export(tmp_path_factory.mktemp("postgres_target"), data, "postgres", postgres.env())
    return {"duckdb": duckdb_reference_run, "postgres": {**run, "warehouse": PostgresWarehouse(postgres)}}


def test_make_run_on_postgres_runs_every_step(runs):
    log = runs["postgres"]["log"]
    assert "DBT_TARGET=postgres" in log
    assert "postgres python phase: int_text_embeddings" in log  # the Python models ran, between SQL phases
    assert "3596 chunks to encode, 0 already encoded" in log
    assert "[quality] checkpoint passed" in log


@pytest.mark.parametrize("table", list(MARTS))
def test_postgres_marts_equal_duckdb(runs, table):
    assert_marts_match(runs["duckdb"]["warehouse"], runs["postgres"]["warehouse"], table)


@pytest.mark.parametrize("export", EXPORTS)
def test_make_export_writes_the_same_parquet(runs, export):
    assert_exports_match(runs["duckdb"]["output"], runs["postgres"]["output"], export)


def test_document_rejects_and_vector_index_on_postgres(runs):
    with runs["duckdb"]["warehouse"].open(read_only=True) as con:
        rejects = con.execute("select * from document_rejects order by all").fetchall()
    with runs["postgres"]["warehouse"].open(read_only=True) as con:
        assert con.execute("select * from document_rejects order by all").fetchall() == rejects
        indexes = con.execute(
            "select * from postgres_query('warehouse', "
            "'select tablename from pg_indexes where indexdef like ''%USING hnsw%'' order by 1')"
        ).fetchall()
        types = con.execute(
            "select * from postgres_query('warehouse', 'select attrelid::regclass::text, "
            "format_type(atttypid, atttypmod) from pg_attribute where attrelid in (''document_chunks''::regclass, "
            "''int_text_embeddings''::regclass) and attname = ''embedding'' order by 1')"
        ).fetchall()
        # the Python model's table too (it was `character varying`, the text form of DuckDB's FLOAT[384])
        sizes = con.execute(
            "select * from postgres_query('warehouse', "
            "'select min(pg_column_size(embedding)), max(pg_column_size(embedding)) from int_text_embeddings')"
        ).fetchall()
    assert indexes == [("document_chunks",), ("search_chunks",)]
    assert types == [("document_chunks", "vector(384)"), ("int_text_embeddings", "vector(384)")]
    assert sizes == [(8 + 4 * 384, 8 + 4 * 384)]


def test_ingest_on_postgres_returns_what_duckdb_returns(runs):
    """`ingest(doc_id)` on DBT_TARGET=postgres: the same chunks, pages and vectors as on DuckDB, and nothing
    encoded again (the make run above embedded them)."""
    from pipeline.ingest import ingest_document

    embedded_sql = "select count(*), max(embedded_at) from int_text_embeddings"
    with runs["postgres"]["warehouse"].open(read_only=True) as con:
        embedded = con.execute(embedded_sql).fetchone()
    ours = ingest_document(
        REAL_DOCUMENT, runs["duckdb"]["data"], runs["duckdb"]["warehouse"], runs["duckdb"]["folder"] / "target_ingest"
    )
    theirs = ingest_document(
        REAL_DOCUMENT,
        runs["postgres"]["data"],
        runs["postgres"]["warehouse"],
        runs["postgres"]["folder"] / "target_ingest",
    )
    with runs["postgres"]["warehouse"].open(read_only=True) as con:
        assert con.execute(embedded_sql).fetchone() == embedded
    assert len(theirs) == len(ours) > 0
    assert [(c["text"], c["pages"]) for c in theirs] == [(c["text"], c["pages"]) for c in ours]
    cosine = [float(a["vector"] @ b["vector"]) for a, b in zip(ours, theirs)]
    assert min(cosine) >= 0.9999 and theirs[0]["vector"].shape == (384,)


def test_landing_again_and_rebuilding_the_vectors_add_nothing(runs, postgres):
    """`make land` again lands nothing; int_text_embeddings, built again (through the postgres_python output), finds
    every (content_hash, model_id) in Postgres and encodes none (the steps of a second `make run` that could
    duplicate)."""
    count = "select count(*) from int_text_embeddings"
    with connect_postgres(postgres.dsn(), read_only=True) as con:
        before = con.execute(count).fetchone()
    assert "20 batch files, 0 newly landed" in make("land", runs["postgres"]["env"])
    built = run_dbt(
        PostgresWarehouse(postgres),
        ["build", "--select", "int_text_chunks", "int_text_embeddings"],
        target_path=runs["postgres"]["folder"] / "target_again",
    )
    assert "0 chunks to encode, 3596 already encoded" in built.stdout
    with connect_postgres(postgres.dsn(), read_only=True) as con:
        assert con.execute(count).fetchone() == before == (3596,)


def test_a_second_build_appends_nothing(runs, postgres):
    with connect_postgres(postgres.dsn(), read_only=True) as con:
        before = {table: con.execute(f"select count(*) from {table}").fetchone()[0] for table in MARTS}
    build_postgres(postgres, runs["postgres"]["folder"])
    with connect_postgres(postgres.dsn(), read_only=True) as con:
        after = {table: con.execute(f"select count(*) from {table}").fetchone()[0] for table in MARTS}
    assert after == before
    assert before["scores"] == 7837 and before["score_rejects"] == 163


def test_landing_is_atomic_and_idempotent_on_postgres(runs, postgres):
    """Landed again: nothing added; a refused file (a landed batch number, other content): nothing changed."""
    conflicting = runs["postgres"]["folder"] / "conflict" / "batch_19.json"
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
        "from landing.land import ensure_raw_tables\n"
        "from landing.score_batches import land_score_batches\n"
        "from warehouse.postgres import connect_postgres\n"
        "with connect_postgres(sys.argv[1]) as con:\n"
        "    ensure_raw_tables(con)\n"
        "    print(sorted({r.status for r in land_score_batches(con, Path(sys.argv[2]))}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    loaders = [
        subprocess.Popen(
            [sys.executable, "-c", script, postgres.dsn(), str(REAL_SCORE_BATCHES)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = [loader.communicate(timeout=120) for loader in loaders]
    assert [loader.returncode for loader in loaders] == [0, 0], outcomes
    assert sorted(out.strip() for out, _ in outcomes) == ["['already landed']", "['landed']"], outcomes
    with connect_postgres(postgres.dsn(), read_only=True) as con:
        assert con.execute("select count(*) from raw.score_batches").fetchone() == (8000,)
