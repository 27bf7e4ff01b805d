"""DBT_TARGET=postgres is as reliable as DuckDB, through the commands users run (`python -m landing.land`,
`python -m pipeline.dbt_runner`), on inputs made from the real files in the shared data folder:

1. bad input: the same exit status, the same error text and the same raw tables afterwards on every engine
   (on Spark: the raw Parquet files Spark reads, as the landing mirrored them);
2. a landing killed (SIGKILL) at several moments leaves only whole files, and the rerun lands the rest; a dbt
   build killed mid-way is finished by the next build, whose marts equal an uninterrupted build's;
3. an external server (what RDS/Aurora gives: a password, a non-superuser owning its database, pgvector created
   by the administrator) is configuration only: PG* and DBT_TARGET, the project's local server never started;
   a wrong password or a missing vector extension gives a clear error naming the server, never the password.

Every Postgres here is a throwaway local server of this module (tests.conftest.throwaway_postgres).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psycopg2
import pytest

from benchmarks.scores.dbt_timing import SCORE_PIPELINE
from core.settings import PROJECT_ROOT
from landing.land import ensure_raw_tables, land_all
from landing.score_batches import batch_files, land_score_batch
from tests.conftest import REAL_DATA, REAL_SCORE_BATCHES, require_real, throwaway_postgres, write_corpus_subset
from tests.score_marts import MARTS, read
from warehouse import DuckDBWarehouse, PostgresWarehouse
from warehouse.duckdb_file import connect
from warehouse.local_postgres import STATE_DIR, LocalPostgres
from warehouse.postgres import WRITER_LOCK, connect_postgres
from warehouse.spark import SparkWarehouse, open_reader

pytestmark = pytest.mark.postgres

REAL_DOCUMENT = "12345"
BATCHES, ROWS = 20, 8000  # the real score batches (checked against the files in test_killed_landing...)


@pytest.fixture(scope="module")
def postgres():
    yield from throwaway_postgres("postgres-test-reliability")


def fresh_database(server, name: str):
    """An empty database `name` on `server` (dropped first if a previous run left it); its Connection."""
    admin = psycopg2.connect(host=server.host, port=server.port, user=server.user, dbname="postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'drop database if exists "{name}" with (force)')
            cursor.execute(f'create database "{name}"')
    finally:
        admin.close()
    return dataclasses.replace(server, dbname=name)


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any warehouse setting (PG*, DBT_TARGET, DUCKDB_PATH, DATA_DIR), plus
    `settings`: what a user's shell would hold to run one command."""
    drop = {"DBT_TARGET", "DUCKDB_PATH", "DATA_DIR", "PUBLISHED_PATH"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k not in drop}
    return {**env, "PYTHONPATH": str(PROJECT_ROOT), "HF_HUB_OFFLINE": "1", **settings}


def command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def run(module: str, env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command(module, *args), cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def raw_contents(con) -> dict[str, list[tuple]]:
    """Every table of the raw schema with its rows (loaded_at aside: when, not what), in a stable order."""
    tables = [t for (t,) in con.execute(  # tables, or views (Spark's Parquet files read through DuckDB)
        "select table_name from information_schema.tables where table_catalog = current_database() "
        "and table_schema = 'raw' order by table_name").fetchall()]
    return {t: sorted(con.execute(f"select * exclude (loaded_at) from raw.{t}").fetchall(), key=repr) for t in tables}


# ---------------------------------------------------------------- 1. bad input: the same errors on every engine

def real_records(n: int) -> list[dict]:
    return json.loads((REAL_SCORE_BATCHES / f"batch_{n}.json").read_text())


def write_batch(folder: Path, n: int, records: list[dict] | str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"batch_{n}.json").write_text(records if isinstance(records, str) else json.dumps(records))


def copy_batches(folder: Path, *numbers: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        shutil.copy(REAL_SCORE_BATCHES / f"batch_{n}.json", folder)


def mutated(n: int, index: int, **changes) -> list[dict]:
    """Real batch n with record `index` changed (a key set to None is removed)."""
    records = real_records(n)
    records[index] = {k: v for k, v in {**records[index], **changes}.items() if v is not None}
    return records


def real_document(folder: Path, texts: bool = True, pages: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for wanted, name in ((texts, f"texts_{REAL_DOCUMENT}.json"), (pages, f"pages_{REAL_DOCUMENT}.csv")):
        if wanted:
            shutil.copy(REAL_DATA / "documents" / name, folder)
    return folder


def edit_text(path: Path, edit) -> None:
    path.write_text(edit(path.read_text()))


def case_truncated_batch(prior: Path, bad: Path) -> None:
    copy_batches(bad / "score_batches", 0)
    text = (REAL_SCORE_BATCHES / "batch_1.json").read_text()
    write_batch(bad / "score_batches", 1, text[: len(text) // 2])


def case_unexpected_key(prior: Path, bad: Path) -> None:
    write_batch(bad / "score_batches", 0, mutated(0, 17, note="checked by hand"))


def case_missing_score(prior: Path, bad: Path) -> None:
    write_batch(bad / "score_batches", 0, mutated(0, 5, score=None))


def case_duplicate_id(prior: Path, bad: Path) -> None:
    write_batch(bad / "score_batches", 0, mutated(0, 9, id=real_records(0)[3]["id"]))


def case_nul_character(prior: Path, bad: Path) -> None:
    # DuckDB's VARCHAR holds U+0000, Postgres's text does not: the one input found to land on one engine only
    write_batch(bad / "score_batches", 0, mutated(0, 3, industry="fo\u0000od"))


def case_lone_surrogate(prior: Path, bad: Path) -> None:
    write_batch(bad / "score_batches", 0, json.dumps(real_records(0)).replace(real_records(0)[4]["id"], "\\ud800x", 1))


def case_conflicting_relanding(prior: Path, bad: Path) -> None:
    copy_batches(prior / "score_batches", 0, 1)
    copy_batches(bad / "score_batches", 0)
    write_batch(bad / "score_batches", 1, mutated(1, 0, score=0.5))


def case_same_content_new_number(prior: Path, bad: Path) -> None:
    copy_batches(prior / "score_batches", 0, 1)
    copy_batches(bad / "score_batches", 0, 1)
    shutil.copy(REAL_SCORE_BATCHES / "batch_1.json", bad / "score_batches" / "batch_2.json")


def case_out_of_order(prior: Path, bad: Path) -> None:
    copy_batches(bad / "score_batches", 0, 2)


def case_bad_file_name(prior: Path, bad: Path) -> None:
    copy_batches(bad / "score_batches", 0)
    shutil.copy(REAL_SCORE_BATCHES / "batch_1.json", bad / "score_batches" / "batch_one.json")


def case_dirty_records_land(prior: Path, bad: Path) -> None:
    """Not refused: scores of every JSON type land verbatim, for dbt to reject (the same rows on both engines)."""
    records = real_records(0)
    for index, score in enumerate(["error", None, True, {"value": 0.5}, [1, 2], 1e999, "0.25", -0.0, 12345678901234567890]):
        records[index]["score"] = score
    records[20]["industry"] = " Food\u2028\t"
    records[21]["id"] = 12345
    write_batch(bad / "score_batches", 0, json.dumps(records).replace("Infinity", "1e999"))


def case_texts_without_pages(prior: Path, bad: Path) -> None:
    real_document(bad / "documents", pages=False)


def case_document_replaced_by_bad_pages(prior: Path, bad: Path) -> None:
    real_document(prior / "documents")
    real_document(bad / "documents")
    edit_text(bad / "documents" / f"pages_{REAL_DOCUMENT}.csv",
              lambda text: "\n".join(line if i != 4 else line.rsplit(",", 1)[0] + ",five"
                                     for i, line in enumerate(text.split("\n"))))


def case_document_truncated_texts(prior: Path, bad: Path) -> None:
    real_document(bad / "documents")
    edit_text(bad / "documents" / f"texts_{REAL_DOCUMENT}.json", lambda text: text[: len(text) // 3])


def case_users_duplicate_id(prior: Path, bad: Path) -> None:
    shutil.copytree(REAL_DATA / "interests", prior / "interests")
    shutil.copytree(REAL_DATA / "interests", bad / "interests")
    edit_text(bad / "interests" / "users.csv", lambda text: text + text.splitlines()[1] + "\n")


def case_qrels_unknown_passage(prior: Path, bad: Path) -> None:
    corpus = write_corpus_subset(bad / "retrieval" / "msmarco-mini")
    lines = (corpus / "qrels.tsv").read_text().split("\n")
    query_id, passage_id, grade = lines[1].split("\t")
    lines[1] = "\t".join([query_id, f"no-such-passage-{passage_id}", grade])
    (corpus / "qrels.tsv").write_text("\n".join(lines))


def case_corpus_malformed_line(prior: Path, bad: Path) -> None:
    corpus = write_corpus_subset(bad / "retrieval" / "msmarco-mini")
    lines = (corpus / "corpus.jsonl").read_bytes().split(b"\n")
    lines[2] = lines[2][:40]
    (corpus / "corpus.jsonl").write_bytes(b"\n".join(lines))


def case_no_data_dir(prior: Path, bad: Path) -> None:
    bad.rmdir()


# id -> (make the folders, exit status, what stderr says); the prior folder (if made) is landed first
BAD_INPUTS = {
    "truncated-batch": (case_truncated_batch, 1, "batch_1.json: invalid JSON at line 1"),
    "unexpected-key": (case_unexpected_key, 1, "record 17 has unexpected key(s) 'note'"),
    "missing-score": (case_missing_score, 1, "record 5 has no 'score'"),
    "duplicate-id": (case_duplicate_id, 1, "duplicate id"),
    "nul-character": (case_nul_character, 1, "record 3 'industry' contains a NUL character"),
    "lone-surrogate": (case_lone_surrogate, 1, "record 4 'id' contains a lone surrogate"),
    "conflicting-relanding": (case_conflicting_relanding, 1, "batch 1 was already landed from"),
    "same-content-new-number": (case_same_content_new_number, 1, "same content as batch 1"),
    "out-of-order": (case_out_of_order, 1, "batch 2 is out of order; the next batch must be 1"),
    "bad-file-name": (case_bad_file_name, 1, "batch_one.json: not a score batch file name"),
    "dirty-records-land": (case_dirty_records_land, 0, ""),
    "texts-without-pages": (case_texts_without_pages, 1, f"missing: {{bad}}/documents/pages_{REAL_DOCUMENT}.csv"),
    "document-replaced-by-bad-pages": (case_document_replaced_by_bad_pages, 1, "line 5: page number 'five' of ref"),
    "document-truncated-texts": (case_document_truncated_texts, 1, f"texts_{REAL_DOCUMENT}.json: invalid JSON"),
    "users-duplicate-id": (case_users_duplicate_id, 1, "users.csv: line 22: id"),
    "qrels-unknown-passage": (case_qrels_unknown_passage, 1, "qrels.tsv: line 2: passage 'no-such-passage-"),
    "corpus-malformed-line": (case_corpus_malformed_line, 1, "corpus.jsonl: line 3: invalid JSON"),
    "no-data-dir": (case_no_data_dir, 1, "is not a folder"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_fails_the_same_on_every_engine(postgres, tmp_path, case):
    make, status, message = BAD_INPUTS[case]
    require_real(REAL_DATA)
    prior, bad = tmp_path / "prior", tmp_path / "data"
    prior.mkdir()
    bad.mkdir()
    make(prior, bad)
    duckdb_warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    server = fresh_database(postgres, "bad_input")

    def read_duckdb() -> dict:
        if not duckdb_warehouse.path.exists():
            return {}
        with connect(duckdb_warehouse, read_only=True) as con:
            return raw_contents(con)

    def read_postgres() -> dict:
        with connect_postgres(server.dsn(), read_only=True) as con:
            return raw_contents(con)

    spark = SparkWarehouse(tmp_path / "spark")

    def read_spark() -> dict:  # what Spark reads: the Parquet files the landing mirrored, not its ledger
        if not spark.raw_dir.exists():
            return {}
        with open_reader(spark) as con:
            return raw_contents(con)

    engines = {
        "duckdb": ({"DBT_TARGET": "duckdb", "DUCKDB_PATH": str(duckdb_warehouse)}, duckdb_warehouse, read_duckdb),
        # DUCKDB_PATH set, to show the Postgres landing never creates it
        "postgres": ({"DBT_TARGET": "postgres", "DUCKDB_PATH": str(tmp_path / "unused.duckdb"), **server.env()},
                     PostgresWarehouse(server), read_postgres),
        "spark": ({"DBT_TARGET": "spark", "SPARK_DIR": str(spark.directory),
                   "DUCKDB_PATH": str(tmp_path / "unused.duckdb")}, spark, read_spark),
    }
    outcomes = {}
    for engine, (settings, warehouse, read_raw) in engines.items():
        if prior.is_dir() and any(prior.iterdir()):
            land_all(prior, warehouse)  # the earlier, good landing the bad input meets
        before = read_raw()
        result = run("landing.land", clean_env(DATA_DIR=str(bad), **settings))
        after = read_raw()
        outcomes[engine] = {
            "status": result.returncode,
            "stdout": result.stdout.splitlines()[1:],  # the first line names the engine
            "stderr": result.stderr,
            "before": before,
            "after": after,
        }
    duck = outcomes["duckdb"]
    for engine in ("postgres", "spark"):
        other = outcomes[engine]
        assert other["status"] == duck["status"] == status, (engine, outcomes)
        assert other["stderr"] == duck["stderr"], (engine, duck["stderr"], other["stderr"])
        assert other["stdout"] == duck["stdout"], engine
        assert "Traceback" not in other["stderr"]
        assert other["after"] == duck["after"], engine
        assert other["before"] == duck["before"], engine
    if status:
        assert duck["stderr"].startswith("[land] error: ") and duck["stderr"].count("\n") == 1, duck["stderr"]
        assert message.format(bad=bad) in duck["stderr"]
    assert not (tmp_path / "unused.duckdb").exists()
    if case in ("conflicting-relanding", "document-replaced-by-bad-pages", "users-duplicate-id"):
        # refused against an earlier landing: that landing is exactly as it was
        assert duck["after"] == duck["before"] and sum(map(len, duck["before"].values())) > 0


# ---------------------------------------------------------------- 2. killed mid-way: Postgres as it was

SCORE_COLUMNS = "batch, record_index, id, score, score_json_type, industry, source_file, content_hash"
FILE_COLUMNS = "cast(landing_key as integer), source_file, content_hash, row_count"


@pytest.fixture(scope="module")
def score_data(tmp_path_factory):
    """A DATA_DIR holding only the 20 real score batches, and what a clean landing of it holds (into DuckDB):
    ({batch: (source_file, content_hash, row_count)}, [rows in batch, record_index order])."""
    folder = tmp_path_factory.mktemp("score_data")
    data_dir = folder / "data"
    shutil.copytree(require_real(REAL_SCORE_BATCHES), data_dir / "score_batches")
    land_all(data_dir, DuckDBWarehouse(folder / "clean.duckdb"))
    with connect(folder / "clean.duckdb", read_only=True) as con:
        files = con.execute(f"select {FILE_COLUMNS} from raw.landed_files where source = 'score_batches'").fetchall()
        rows = con.execute(f"select {SCORE_COLUMNS} from raw.score_batches order by batch, record_index").fetchall()
    return data_dir, {batch: rest for batch, *rest in map(tuple, files)}, rows


def landed_state(server) -> tuple[dict[int, list], list[tuple]]:
    """What Postgres holds (read with psycopg2, committed data only): landed files and score rows, as score_data."""
    con = psycopg2.connect(server.dsn())
    try:
        with con.cursor() as cursor:
            cursor.execute("select to_regclass('raw.landed_files') is not null")
            if not cursor.fetchone()[0]:
                return {}, []
            cursor.execute(f"select {FILE_COLUMNS} from raw.landed_files where source = 'score_batches'")
            files = {batch: rest for batch, *rest in cursor.fetchall()}
            cursor.execute(f"select {SCORE_COLUMNS} from raw.score_batches order by batch, record_index")
            return files, cursor.fetchall()
    finally:
        con.close()


def kill_when(process: subprocess.Popen, server, ready, seconds: float = 180) -> None:
    """SIGKILL `process` (its whole process group) as soon as `ready(cursor)` holds (a psycopg2 cursor on `server`,
    polled every 2 ms)."""
    watcher = psycopg2.connect(server.dsn())
    watcher.autocommit = True
    deadline = time.monotonic() + seconds
    try:
        with watcher.cursor() as cursor:
            while process.poll() is None and time.monotonic() < deadline:
                if ready(cursor):
                    os.killpg(process.pid, signal.SIGKILL)
                    break
                time.sleep(0.002)
    finally:
        watcher.close()
    out, err = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, f"not killed (exit {process.returncode}):\n{out[-2000:]}\n{err[-2000:]}"


def scalar(cursor, sql: str):
    cursor.execute(sql)
    return cursor.fetchone()[0]


def landed_at_least(n: int):
    def ready(cursor) -> bool:
        if n == 0:  # right at start: the loader holds the writer lock, nothing else done yet
            return scalar(cursor, f"select count(*) from pg_locks where locktype = 'advisory' and objid = {WRITER_LOCK} "
                                  "and granted") > 0
        return (scalar(cursor, "select to_regclass('raw.landed_files') is not null")
                and scalar(cursor, "select count(*) from raw.landed_files") >= n)
    return ready


def inside_a_file_after(n: int):
    """n files landed and the loader inside the transaction of the next one (a session of it in a transaction)."""
    def ready(cursor) -> bool:
        return landed_at_least(n)(cursor) and scalar(cursor, (
            "select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() "
            "and backend_type = 'client backend' and xact_start is not null and query not like '%pg_advisory_lock%'")) > 0
    return ready


KILL_MOMENTS = {  # moment -> (when to kill, files surely landed by then)
    "at-start": (landed_at_least(0), 0),
    "after-1-file": (landed_at_least(1), 1),
    "inside-file-4": (inside_a_file_after(3), 3),
    "after-5-files": (landed_at_least(5), 5),
    "after-12-files": (landed_at_least(12), 12),
}


def test_the_real_batches_are_20_files_of_8000_rows(score_data):
    data_dir, files, rows = score_data
    counts = [len(json.loads(path.read_text())) for path in sorted((data_dir / "score_batches").iterdir())]
    assert (len(counts), sum(counts)) == (BATCHES, ROWS) == (len(files), len(rows))


@pytest.mark.parametrize("moment", list(KILL_MOMENTS))
def test_a_killed_landing_leaves_whole_files_and_the_rerun_lands_the_rest(postgres, score_data, moment):
    data_dir, clean_files, clean_rows = score_data
    ready, landed_files = KILL_MOMENTS[moment]
    server = fresh_database(postgres, "killed_landing")
    env = clean_env(DATA_DIR=str(data_dir), DBT_TARGET="postgres", **server.env())
    loader = subprocess.Popen(command("landing.land"), cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    kill_when(loader, server, ready)

    files, rows = landed_state(server)
    landed = len(files)
    assert landed_files <= landed < BATCHES
    assert sorted(files) == list(range(landed))  # in order, and each file whole: its rows, nothing else
    assert files == {batch: clean_files[batch] for batch in range(landed)}
    assert rows == [row for row in clean_rows if row[0] < landed]

    rerun = run("landing.land", env)
    assert rerun.returncode == 0, rerun.stderr
    new_rows = sum(count for batch, (_, _, count) in clean_files.items() if batch >= landed)
    assert (f"[land] score_batches: {BATCHES} batch files, {BATCHES - landed} newly landed ({new_rows} rows), "
            f"{landed} already landed") in rerun.stdout
    assert landed_state(server) == (clean_files, clean_rows)


def dbt_env(server, folder: Path) -> dict[str, str]:
    return clean_env(DBT_TARGET="postgres", DUCKDB_PATH=str(folder / "unused.duckdb"),
                     DBT_TARGET_PATH=str(folder / "target"), DBT_LOG_PATH=str(folder / "logs"), **server.env())


BUILD = ("build", "--select", SCORE_PIPELINE)


def marts(server) -> dict:
    with connect_postgres(server.dsn(), read_only=True) as con:
        return {table: read(con, table) for table in MARTS}


def assert_marts_equal(server, reference: dict) -> None:
    """The score marts on `server` exactly equal `reference` (marts() of another build)."""
    ours = marts(server)
    for table, expected in reference.items():
        pd.testing.assert_frame_equal(ours[table], expected, check_exact=True, obj=table)


@pytest.fixture(scope="module")
def uninterrupted_marts(postgres, score_data, tmp_path_factory):
    """The score marts of the 20 real batches landed and built once, without interruption."""
    folder = tmp_path_factory.mktemp("dbt_uninterrupted")
    server = fresh_database(postgres, "dbt_uninterrupted")
    land_all(score_data[0], PostgresWarehouse(server))
    build = run("pipeline.dbt_runner", dbt_env(server, folder), *BUILD)
    assert build.returncode == 0, build.stdout[-3000:]
    return marts(server)


def running_node(name: str):
    """dbt (its query comments name the node) has sent a statement of model `name`."""
    def ready(cursor) -> bool:
        return scalar(cursor, "select count(*) from pg_stat_activity where datname = current_database() "
                              f"and query like '%\"node_id\": \"model.ml_platform.{name}\"%'") > 0
    return ready


def scores_rows(server) -> int | None:
    """Rows of the last mart, `scores`; None before it exists."""
    con = psycopg2.connect(server.dsn())
    try:
        with con.cursor() as cursor:
            if scalar(cursor, "select to_regclass('public.scores')") is None:
                return None
            return scalar(cursor, "select count(*) from public.scores")
    finally:
        con.close()


def build_killed_in(server, env: dict[str, str], node: str) -> None:
    """`python -m pipeline.dbt_runner build` of the score pipeline, SIGKILLed (with its dbt) once it runs `node`."""
    build = subprocess.Popen(command("pipeline.dbt_runner", *BUILD), cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    kill_when(build, server, running_node(node))


def test_killed_dbt_builds_are_finished_by_the_next_one(postgres, score_data, uninterrupted_marts, tmp_path):
    """Two kills on the way to the 20 batches: the first build (10 batches landed) killed in the second incremental
    model; after 10 more batches, the incremental build killed in a mart (the intermediates already holding the new
    windows). Each time the next build completes, and the marts end equal to the uninterrupted build's, exactly."""
    data_dir = score_data[0]
    server = fresh_database(postgres, "dbt_killed")
    env = dbt_env(server, tmp_path)
    with connect_postgres(server.dsn()) as con:  # the first 10 batches, from the same files as the full landing
        ensure_raw_tables(con)
        for path in batch_files(data_dir / "score_batches")[:10]:
            land_score_batch(con, path)

    build_killed_in(server, env, "int_score_windows")
    assert scores_rows(server) is None  # killed before the last mart
    first = run("pipeline.dbt_runner", env, *BUILD)
    assert first.returncode == 0, first.stdout[-3000:]

    assert run("landing.land", clean_env(DATA_DIR=str(data_dir), DBT_TARGET="postgres", **server.env())).returncode == 0
    before = scores_rows(server)
    build_killed_in(server, env, "percentile_history")
    assert scores_rows(server) == before > 0  # `scores` (after percentile_history) as it was

    rebuild = run("pipeline.dbt_runner", env, *BUILD)
    assert rebuild.returncode == 0, rebuild.stdout[-3000:]
    assert_marts_equal(server, uninterrupted_marts)
    con = psycopg2.connect(server.dsn())
    try:
        with con.cursor() as cursor:  # no relation a killed dbt left behind (__dbt_tmp, __dbt_backup)
            cursor.execute("select relname from pg_class where relname like '%\\_\\_dbt\\_%'")
            assert cursor.fetchall() == []
    finally:
        con.close()


# ---------------------------------------------------------------- 3. an external server: configuration only

APP_PASSWORD = "Managed-Db-pw-7c41e9"  # the throwaway server's; a test value, never a real secret
WRONG_PASSWORD = "Not-the-pw-52b0aa"


@pytest.fixture(scope="module")
def managed():
    """A second server set up as RDS/Aurora hands one out: password (scram-sha-256) logins over TCP; the user `app`,
    no superuser, owning the database `app`, where the administrator created pgvector; and `bare`, a database of
    `app`'s without pgvector. Yields `app`'s Connection (password included), as PG* would give it."""
    for server in throwaway_postgres("postgres-test-reliability-managed"):
        admin = psycopg2.connect(host=server.host, port=server.port, user=server.user, dbname="postgres")
        admin.autocommit = True
        try:
            with admin.cursor() as cursor:
                cursor.execute("create role app login nosuperuser nocreatedb nocreaterole password %s", [APP_PASSWORD])
                cursor.execute("create database app owner app")
                cursor.execute("create database bare owner app")
            with psycopg2.connect(dataclasses.replace(server, dbname="app").dsn()) as app_db:
                app_db.cursor().execute("create extension vector")
            data_dir = PROJECT_ROOT / ".engines" / "postgres-test-reliability-managed" / "data"
            # the administrator (the fixture) keeps trust; every other login needs its password
            (data_dir / "pg_hba.conf").write_text("host all postgres 127.0.0.1/32 trust\n"
                                                  "host all all 127.0.0.1/32 scram-sha-256\n")
            with admin.cursor() as cursor:
                cursor.execute("select pg_reload_conf()")
        finally:
            admin.close()
        yield dataclasses.replace(server, user="app", password=APP_PASSWORD, dbname="app")


def project_server_state() -> tuple:
    """The project's own local server (.engines/postgres): running?, and its state file's mtime (None if absent)."""
    server = LocalPostgres(STATE_DIR)
    return server.running(), server.state_file.stat().st_mtime_ns if server.state_file.exists() else None


def test_an_external_server_is_configuration_only(managed, score_data, uninterrupted_marts, tmp_path):
    """PG* and DBT_TARGET=postgres, nothing else: landing and the score pipeline run as the non-superuser, into its
    database, with the same marts as on the project's server; the project's local server is never started."""
    before = project_server_state()
    settings = {"DBT_TARGET": "postgres", **managed.env()}
    land = run("landing.land", clean_env(DATA_DIR=str(score_data[0]), **settings))
    assert land.returncode == 0, land.stderr
    assert f"{BATCHES} batch files, {BATCHES} newly landed ({ROWS} rows)" in land.stdout
    build = run("pipeline.dbt_runner", clean_env(**settings, DBT_TARGET_PATH=str(tmp_path / "target"),
                                                  DBT_LOG_PATH=str(tmp_path / "logs")), *BUILD)
    assert build.returncode == 0, build.stdout[-3000:]

    assert_marts_equal(managed, uninterrupted_marts)
    con = psycopg2.connect(managed.dsn())
    try:
        with con.cursor() as cursor:
            assert scalar(cursor, "select rolsuper from pg_roles where rolname = current_user") is False
            assert scalar(cursor, "select count(*) from pg_tables where schemaname in ('raw', 'public') "
                                  "and tableowner = 'app'") >= len(MARTS) + 2
    finally:
        con.close()
    assert project_server_state() == before
    if not before[0]:
        assert not LocalPostgres(STATE_DIR).running()


def test_a_wrong_password_is_a_clear_error_naming_the_server_not_the_password(managed, score_data, tmp_path):
    wrong = dataclasses.replace(managed, password=WRONG_PASSWORD)
    server = f"postgresql://app@127.0.0.1:{managed.port}/app"
    before = project_server_state()
    outputs = {}
    for entry_point in ("landing.land", "pipeline.publish", "pipeline.dbt_runner"):
        env = clean_env(DBT_TARGET="postgres", DATA_DIR=str(score_data[0]), PUBLISHED_PATH=str(tmp_path / "pub.duckdb"),
                        DBT_TARGET_PATH=str(tmp_path / "target"), DBT_LOG_PATH=str(tmp_path / "logs"), **wrong.env())
        result = run(entry_point, env, *(BUILD if entry_point == "pipeline.dbt_runner" else ()))
        outputs[entry_point] = result
        assert result.returncode != 0, entry_point
        text = result.stdout + result.stderr
        assert WRONG_PASSWORD not in text and APP_PASSWORD not in text, entry_point
        assert 'password authentication failed for user "app"' in text, (entry_point, text[-2000:])
        assert f'"127.0.0.1", port {managed.port}' in text, entry_point
    for entry_point, name in (("landing.land", "land"), ("pipeline.publish", "publish")):
        stderr = outputs[entry_point].stderr
        assert stderr.startswith(f"[{name}] error: cannot connect to the Postgres warehouse {server}: "), stderr
        assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert not (tmp_path / "pub.duckdb").exists()
    assert project_server_state() == before


def test_a_database_without_pgvector_says_what_to_ask_the_administrator(managed, tmp_path):
    """On `bare` (no vector extension, a user who may not create it), the first model with vectors fails with an
    error saying so, instead of Postgres's 'permission denied to create extension'."""
    bare = dataclasses.replace(managed, dbname="bare")
    env = clean_env(DBT_TARGET="postgres", DBT_TARGET_PATH=str(tmp_path / "target"), DBT_LOG_PATH=str(tmp_path / "logs"),
                    **bare.env())
    build = run("pipeline.dbt_runner", env, "run", "--select", "search_chunks")
    assert build.returncode != 0
    text = build.stdout + build.stderr
    assert ('the database "bare" has no vector extension (pgvector), which vector search needs, and user "app" '
            'cannot create it') in text, text[-3000:]
    assert 'run "create extension vector;" in that database' in text
    assert APP_PASSWORD not in text


def test_make_stop_stops_every_server_the_project_started():
    """`make stop` (python -m warehouse stop -> stop_all) stops each server with state under the engines
    folder, e.g. ones an interrupted test run left behind, and keeps their data."""
    from warehouse.local_postgres import stop_all

    engines = PROJECT_ROOT / ".engines" / "stop-test"
    servers = [LocalPostgres(engines / name) for name in ("first", "second")]
    try:
        for server in servers:
            server.start()
        assert all(server.running() for server in servers)
        assert stop_all(engines) == ["first", "second"]
        assert not any(server.running() for server in servers)
        assert all((server.data_dir / "PG_VERSION").exists() for server in servers)
        assert stop_all(engines) == []
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(engines, ignore_errors=True)
