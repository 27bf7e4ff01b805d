"""Blank after normalisation, one definition (dbt_project.yml's blank_text_characters) read by the dbt macro
is_blank_text and by core.text.is_blank: the two agree on every code point, and on the real document 12345
with invisible texts injected (zero-width characters, Unicode whitespace, control characters, and every range
boundary of the definition with its neighbours) each blank text becomes a `blank_text` reject, each text the
model's tokenizer reads as nothing (private use, lone combining marks) a `no_model_tokens` reject, the build
passes, no chunk is blank or empty, and DuckDB, Postgres and Spark reject exactly the same texts for the same
reasons. NUL characters leave texts at landing, with a report line.
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

from core.settings import PROJECT_ROOT
from core.text import is_blank
from embeddings.chunking import load_tokenizer
from ingestion import ingest
from landing.documents import land_document
from landing.land import ensure_raw_tables, land_all
from pipeline.dbt_runner import run_dbt
from tests.conftest import REAL_DATA, REAL_DOCUMENT, model, query, require_real, throwaway_postgres
from warehouse import DuckDBWarehouse

RANGES = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text())["vars"]["blank_text_characters"]
INVISIBLE = [
    "\u200b\u200c\u200d\u2060\ufeff",  # zero-width space, non-joiner, joiner, word joiner, BOM
    "\u00a0\u2003\u3000\u2028\u2029\u202f",  # no-break, em, ideographic space, line and paragraph separators
    "\x01\x07\x1b\x7f\x85\x9f",  # C0, DEL, C1 controls
    " \t\r\n\x0b\x0c",
    "\u3164\u115f\u180e\ufe0f\U000e0041",  # Hangul fillers, Mongolian vowel separator, variation selector, tag
]
VISIBLE = ["a\u200b", "\u00e9", "\u2400", "\U0001f600", "\u3007", "\u00a0x\u3000"]
# not blank (the characters render), but the model's tokenizer reads them as nothing: no_model_tokens rejects
UNTOKENIZABLE = [
    "\ue000\uf8ff\U000f0000",  # private use: what PDF extraction makes of icon fonts
    "\u0301\u0350",  # combining marks without a base
    "\ufff9\ufffb",  # interlinear annotation format characters
    "\ue000 \u200b\u0301",  # mixed with blank characters
]


def boundary_texts() -> list[str]:
    """Each range's first and last code point and their outer neighbours, as one-character texts (NUL is
    removed at landing, tested apart; surrogates are not characters). Some outer neighbours (combining marks,
    format characters such as U+FFF9 outside the definition) are not blank, yet the model's tokenizer reads them
    as nothing: they are no_model_tokens rejects."""
    points = set()
    for item in RANGES:
        first, _, last = item.partition("-")
        first, last = int(first, 16), int(last or first, 16)
        points |= {first - 1, first, last, last + 1}
    return [chr(p) for p in sorted(points) if 0 < p <= 0x10FFFF and not 0xD800 <= p <= 0xDFFF]


def has_model_tokens(text: str) -> bool:
    return bool(load_tokenizer(model().tokenizer_dir)(text, add_special_tokens=False)["input_ids"])


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
    visible, untokenizable and boundary texts: position -> injected text."""
    documents = require_real(REAL_DATA / "documents")
    data = tmp_path_factory.mktemp("blank_text") / "data"
    (data / "documents").mkdir(parents=True)
    shutil.copy(documents / f"pages_{REAL_DOCUMENT}.csv", data / "documents")
    # the document's first 400 texts (its own files, cut so the real model encodes them in CI time)
    texts = json.loads((documents / f"texts_{REAL_DOCUMENT}.json").read_text())[:400]
    usable = [i for i, t in enumerate(texts) if t.get("pages") and not is_blank(t["text"])]
    injecting = [*INVISIBLE, *VISIBLE, *UNTOKENIZABLE, *boundary_texts()]
    assert len(usable[1::2]) >= len(injecting)
    injected = dict(zip(usable[1::2], injecting))
    for position, text in injected.items():
        texts[position]["text"] = text
    (data / "documents" / f"texts_{REAL_DOCUMENT}.json").write_text(json.dumps(texts))
    return data, injected


def text_rejects(warehouse) -> dict[int, str]:
    """source_position -> reason, for every rejected text (page_ref null) of the warehouse's document_rejects."""
    with warehouse.open(read_only=True) as con:
        return dict(con.execute("select source_position, reason from document_rejects where page_ref is null")
                    .fetchall())


@pytest.fixture(scope="module")
def duckdb_run(injected, tmp_path_factory):
    data, _ = injected
    folder = tmp_path_factory.mktemp("blank_duckdb")
    warehouse = DuckDBWarehouse(folder / "warehouse.duckdb")
    chunks = ingest(REAL_DOCUMENT, data_dir=data, warehouse=warehouse, target_path=folder / "target")  # lands, dbt build, must not fail
    return warehouse, chunks


def test_blank_and_untokenizable_texts_are_rejects_with_a_reason_and_never_chunks(injected, duckdb_run):
    data, injected_texts = injected
    warehouse, chunks = duckdb_run
    blank = {p for p, text in injected_texts.items() if is_blank(text)}
    untokenizable = {p for p, text in injected_texts.items() if not is_blank(text) and not has_model_tokens(text)}
    assert len(blank) > len(INVISIBLE) and len(untokenizable) > len(UNTOKENIZABLE)
    assert len(blank) + len(untokenizable) < len(injected_texts)
    original = {i for i, t in enumerate(json.loads((data / "documents" / f"texts_{REAL_DOCUMENT}.json")
                                                   .read_text())) if i not in injected_texts and is_blank(t["text"])}
    rejects = text_rejects(warehouse)
    assert {p for p, reason in rejects.items() if reason == "blank_text"} == blank | original
    assert {p for p, reason in rejects.items() if reason == "no_model_tokens"} == untokenizable
    assert not any(is_blank(chunk["text"]) for chunk in chunks)
    assert query(warehouse, "select count(*) from document_chunks where token_count = 0") == [(0,)]
    visible = set(injected_texts) - blank - untokenizable
    chunked = {p for (p,) in query(warehouse, "select distinct source_position from document_chunks")}
    assert visible <= chunked and not (untokenizable & chunked)


def test_nul_characters_leave_texts_at_landing_and_a_text_of_nuls_becomes_a_blank_text_reject(injected, tmp_path,
                                                                                                   capsys):
    """Postgres text cannot hold U+0000, and a NUL renders as nothing: landing removes it from a document's texts
    (the same loader on every engine) and says so in its report; a text of NULs alone is then blank, a
    `blank_text` reject of the build like any other invisible text, and a text with a NUL inside keeps the rest."""
    data, injected_texts = injected
    folder = tmp_path / "data" / "documents"
    shutil.copytree(data / "documents", folder)
    texts = json.loads((folder / f"texts_{REAL_DOCUMENT}.json").read_text())
    # two real texts with pages, neither injected
    nuls_only, nul_inside = [i for i, t in enumerate(texts) if i not in injected_texts and t.get("pages")
                             and len(t["text"]) > 20 and not is_blank(t["text"])][:2]
    original = texts[nul_inside]["text"]
    texts[nuls_only]["text"] = "\x00\x00"
    texts[nul_inside]["text"] = original[:10] + "\x00" + original[10:]
    (folder / f"texts_{REAL_DOCUMENT}.json").write_text(json.dumps(texts))
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    land_all(tmp_path / "data", warehouse)
    (report,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[land] documents:")]
    assert report.endswith(f"; document {REAL_DOCUMENT}: NUL characters (U+0000) removed from 2 texts "
                           "(Postgres text cannot hold them)"), report
    landed = dict(query(warehouse, "select position, text from raw.document_texts"))
    assert (landed[nuls_only], landed[nul_inside]) == ("", original)
    run_dbt(warehouse, ["run", "--select", "+document_rejects"], target_path=tmp_path / "target")
    assert query(warehouse, f"select reason from document_rejects where source_position = {nuls_only}") \
        == [("blank_text",)]
    assert query(warehouse, "select text from int_text_units "
                            f"where source = 'document' and source_position = {nul_inside}") == [(original,)]


def land_and_build_rejects(warehouse, data: Path, folder: Path) -> None:
    with warehouse.open() as con:
        ensure_raw_tables(con)
        land_document(con, data / "documents", REAL_DOCUMENT)
    # models only: the data tests on these models also read other sources' models (the DuckDB run builds all)
    run_dbt(warehouse, ["run", "--select", "+document_rejects"], target_path=folder / "target")


@pytest.fixture(scope="module")
def postgres():
    yield from throwaway_postgres("postgres-blank-text")


@pytest.mark.postgres
def test_postgres_rejects_the_same_texts_for_the_same_reasons(injected, duckdb_run, postgres, tmp_path):
    land_and_build_rejects(postgres, injected[0], tmp_path)
    assert text_rejects(postgres) == text_rejects(duckdb_run[0])


@pytest.mark.spark
def test_spark_rejects_the_same_texts_for_the_same_reasons(injected, duckdb_run, tmp_path):
    from warehouse.spark import SparkWarehouse

    warehouse = SparkWarehouse(tmp_path / "spark")
    land_and_build_rejects(warehouse, injected[0], tmp_path)
    assert text_rejects(warehouse) == text_rejects(duckdb_run[0])
