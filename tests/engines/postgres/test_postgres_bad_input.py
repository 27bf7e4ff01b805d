"""DBT_TARGET=postgres meets bad input as DuckDB and Spark do, through `python -m landing.land` on inputs made from
the real files: the same exit status, the same error text and the same raw tables afterwards on every engine (on
Spark: the raw Parquet files Spark reads, as the landing mirrored them)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from landing.land import land_all
from tests.support.data import REAL_DATA, REAL_SCORE_BATCHES, require_real, write_corpus_subset
from tests.support.postgres import (
    clean_env,
    fresh_database,
    raw_contents,
    run,
)
from warehouse import DuckDBWarehouse, PostgresWarehouse
from warehouse.duckdb_file import connect
from warehouse.postgres import connect_postgres
from warehouse.spark import SparkWarehouse, open_reader

REAL_DOCUMENT = "12345"


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
    for index, score in enumerate(
        ["error", None, True, {"value": 0.5}, [1, 2], 1e999, "0.25", -0.0, 12345678901234567890]
    ):
        records[index]["score"] = score
    records[20]["industry"] = " Food\u2028\t"
    records[21]["id"] = 12345
    write_batch(bad / "score_batches", 0, json.dumps(records).replace("Infinity", "1e999"))


def case_texts_without_pages(prior: Path, bad: Path) -> None:
    real_document(bad / "documents", pages=False)


def case_document_replaced_by_bad_pages(prior: Path, bad: Path) -> None:
    real_document(prior / "documents")
    real_document(bad / "documents")
    edit_text(
        bad / "documents" / f"pages_{REAL_DOCUMENT}.csv",
        lambda text: "\n".join(
            line if i != 4 else line.rsplit(",", 1)[0] + ",five" for i, line in enumerate(text.split("\n"))
        ),
    )


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
def test_bad_input_fails_the_same_on_every_engine(reliability_postgres, tmp_path, case):
    make, status, message = BAD_INPUTS[case]
    require_real(REAL_DATA)
    prior, bad = tmp_path / "prior", tmp_path / "data"
    prior.mkdir()
    bad.mkdir()
    make(prior, bad)
    duckdb_warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    server = fresh_database(reliability_postgres, "bad_input")

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
        "postgres": (
            {"DBT_TARGET": "postgres", "DUCKDB_PATH": str(tmp_path / "unused.duckdb"), **server.env()},
            PostgresWarehouse(server),
            read_postgres,
        ),
        "spark": (
            {"DBT_TARGET": "spark", "SPARK_DIR": str(spark.directory), "DUCKDB_PATH": str(tmp_path / "unused.duckdb")},
            spark,
            read_spark,
        ),
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
