"""Blank after normalisation, one definition (dbt_project.yml's blank_text_characters) read by the dbt macro
is_blank_text and by ingestion.text.is_blank: the two agree on every code point, and on the real document 12345
with invisible texts injected (zero-width characters, Unicode whitespace, control characters, and every range
boundary of the definition with its neighbours) each blank text becomes a `blank_text` reject, the build passes,
no chunk is blank, and DuckDB, Postgres and Spark reject exactly the same texts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import yaml

from ingestion import ingest
from ingestion.dbt_runner import run_dbt_on
from ingestion.embedding import load_tokenizer
from ingestion.documents import land_document
from ingestion.land import ensure_raw_tables
from ingestion.settings import PROJECT_ROOT
from ingestion.text import is_blank
from ingestion.warehouse import LandingError, open_warehouse
from tests.conftest import REAL_DATA, REAL_DOCUMENT, model, query, require_real, throwaway_postgres

RANGES = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text())["vars"]["blank_text_characters"]
INVISIBLE = [
    "\u200b\u200c\u200d\u2060\ufeff",  # zero-width space, non-joiner, joiner, word joiner, BOM
    "\u00a0\u2003\u3000\u2028\u2029\u202f",  # no-break, em, ideographic space, line and paragraph separators
    "\x01\x07\x1b\x7f\x85\x9f",  # C0, DEL, C1 controls
    " \t\r\n\x0b\x0c",
    "\u3164\u115f\u180e\ufe0f\U000e0041",  # Hangul fillers, Mongolian vowel separator, variation selector, tag
]
VISIBLE = ["a\u200b", "\u00e9", "\u2400", "\U0001f600", "\u3007", "\u00a0x\u3000"]


def boundary_texts() -> list[str]:
    """Each range's first and last code point and their outer neighbours, as one-character texts (NUL is
    refused at landing, tested apart; surrogates are not characters). Outer neighbours the model's tokenizer
    reads as nothing (combining marks, format characters such as U+FFF9 outside the definition) are left out:
    they are not blank by the definition, yet give a 0-token chunk (docs/reliability.md, "Blank text")."""
    tokenizer = load_tokenizer(model().tokenizer_dir)
    points = set()
    for item in RANGES:
        first, _, last = item.partition("-")
        first, last = int(first, 16), int(last or first, 16)
        points |= {first - 1, first, last, last + 1}
    texts = [chr(p) for p in sorted(points) if 0 < p <= 0x10FFFF and not 0xD800 <= p <= 0xDFFF]
    return [t for t in texts if is_blank(t) or tokenizer(t, add_special_tokens=False)["input_ids"]]


def test_is_blank_says_what_the_issue_calls_blank():
    assert all(is_blank(text) for text in ["", *INVISIBLE, "\x00", "\x00 \u200b"])
    assert not any(is_blank(text) for text in VISIBLE)


def test_python_and_the_dbt_macro_agree_on_every_code_point(tmp_path):
    env = {**os.environ, "DUCKDB_PATH": str(tmp_path / "unused.duckdb"), "DBT_PROFILES_DIR": str(PROJECT_ROOT)}
    compiled = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "compile", "--quiet", "--target", "duckdb",
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
         "--inline", "select code_point, {{ is_blank_text('text') }} as blank from characters"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    points = [p for p in range(0x110000) if not 0xD800 <= p <= 0xDFFF]
    con = duckdb.connect()
    con.register("incoming", pa.table({"code_point": points, "text": [chr(p) for p in points]}))
    con.execute("create table characters as select * from incoming")
    blank_in_sql = {p for p, blank in con.execute(compiled.stdout.strip()).fetchall() if blank}
    assert blank_in_sql == {p for p in points if is_blank(chr(p))}
    assert len(blank_in_sql) == 4258  # the ranges' sizes: a change to the definition shows here


@pytest.fixture(scope="module")
def injected(tmp_path_factory) -> tuple[Path, dict[int, str]]:
    """DATA_DIR with the real document, texts at positions that resolve to pages replaced by invisible,
    visible and boundary texts: position -> injected text."""
    documents = require_real(REAL_DATA / "documents")
    data = tmp_path_factory.mktemp("blank_text") / "data"
    (data / "documents").mkdir(parents=True)
    shutil.copy(documents / f"pages_{REAL_DOCUMENT}.csv", data / "documents")
    # the document's first 400 texts (its own files, cut so the real model encodes them in CI time)
    texts = json.loads((documents / f"texts_{REAL_DOCUMENT}.json").read_text())[:400]
    usable = [i for i, t in enumerate(texts) if t.get("pages") and not is_blank(t["text"])]
    injecting = [*INVISIBLE, *VISIBLE, *boundary_texts()]
    assert len(usable[1::2]) >= len(injecting)
    injected = dict(zip(usable[1::2], injecting))
    for position, text in injected.items():
        texts[position]["text"] = text
    (data / "documents" / f"texts_{REAL_DOCUMENT}.json").write_text(json.dumps(texts))
    return data, injected


def blank_rejects(warehouse) -> set[int]:
    with open_warehouse(warehouse, read_only=True) as con:
        return {p for (p,) in con.execute(
            "select source_position from document_rejects where reason = 'blank_text'").fetchall()}


@pytest.fixture(scope="module")
def duckdb_run(injected, tmp_path_factory):
    data, _ = injected
    warehouse = tmp_path_factory.mktemp("blank_duckdb") / "warehouse.duckdb"
    chunks = ingest(REAL_DOCUMENT, data_dir=data, duckdb_path=warehouse)  # lands, dbt build, must not fail
    return warehouse, chunks


def test_blank_texts_are_rejects_with_a_reason_and_never_chunks(injected, duckdb_run):
    data, injected_texts = injected
    warehouse, chunks = duckdb_run
    blank = {p for p, text in injected_texts.items() if is_blank(text)}
    assert len(blank) > len(INVISIBLE) and len(blank) < len(injected_texts)
    original = {i for i, t in enumerate(json.loads((data / "documents" / f"texts_{REAL_DOCUMENT}.json")
                                                   .read_text())) if i not in injected_texts and is_blank(t["text"])}
    assert blank_rejects(warehouse) == blank | original
    assert not any(is_blank(chunk["text"]) for chunk in chunks)
    assert query(warehouse, "select count(*) from document_chunks where token_count = 0") == [(0,)]
    visible = {p for p, text in injected_texts.items() if not is_blank(text)}
    chunked = {p for (p,) in query(warehouse, "select distinct source_position from document_chunks")}
    assert visible <= chunked


def test_a_text_with_a_nul_character_refuses_its_document_with_one_clear_line(injected, tmp_path):
    """Postgres text cannot hold U+0000: a NUL anywhere in a text refuses the document on every engine (the
    same loader), naming file, record and character, and the warehouse keeps what it had."""
    data, _ = injected
    folder = tmp_path / "documents"
    shutil.copytree(data / "documents", folder)
    texts = json.loads((folder / f"texts_{REAL_DOCUMENT}.json").read_text())
    texts[5]["text"] = "\x00\x00"
    (folder / f"texts_{REAL_DOCUMENT}.json").write_text(json.dumps(texts))
    with open_warehouse(tmp_path / "warehouse.duckdb") as con:
        ensure_raw_tables(con)
        with pytest.raises(LandingError, match=r'record 5 "text" contains a NUL character \(U\+0000\)'):
            land_document(con, folder, REAL_DOCUMENT)
        assert con.execute("select count(*) from raw.document_texts").fetchone() == (0,)


def land_and_build_rejects(warehouse, data: Path, folder: Path) -> None:
    with open_warehouse(warehouse) as con:
        ensure_raw_tables(con)
        land_document(con, data / "documents", REAL_DOCUMENT)
    # models only: the data tests on these models also read other sources' models (the DuckDB run builds all)
    run_dbt_on(warehouse, ["run", "--select", "+document_rejects"], target_path=folder / "target")


@pytest.fixture(scope="module")
def postgres():
    yield from throwaway_postgres("postgres-blank-text")


@pytest.mark.postgres
def test_postgres_rejects_the_same_blank_texts(injected, duckdb_run, postgres, tmp_path):
    land_and_build_rejects(postgres, injected[0], tmp_path)
    assert blank_rejects(postgres) == blank_rejects(duckdb_run[0])


@pytest.mark.spark
def test_spark_rejects_the_same_blank_texts(injected, duckdb_run, tmp_path):
    from ingestion.engines.spark import SparkWarehouse

    warehouse = SparkWarehouse(tmp_path / "spark")
    land_and_build_rejects(warehouse, injected[0], tmp_path)
    assert blank_rejects(warehouse) == blank_rejects(duckdb_run[0])
