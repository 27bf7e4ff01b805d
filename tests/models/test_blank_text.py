"""Blank after normalisation, one definition (dbt_project.yml's blank_text_characters) read by the dbt macro
is_blank_text and by core.text.is_blank: the two agree on every code point, and on the real document 12345
with invisible texts injected (zero-width characters, Unicode whitespace, control characters, and every range
boundary of the definition with its neighbours) each blank text becomes a `blank_text` reject, each text the
model's tokenizer reads as nothing (private use, lone combining marks) a `no_model_tokens` reject, the build
passes, no chunk is blank or empty, and DuckDB, Postgres and Spark reject exactly the same texts for the same
reasons (tests/engines/*/test_*_blank_text.py). NUL characters leave texts at landing, with a report line.
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

from core.settings import DEFAULT_DUCKDB_MEMORY_LIMIT, PROJECT_ROOT
from core.text import is_blank
from embeddings.chunking import load_tokenizer
from landing.land import land_all
from pipeline.dbt_runner import run_dbt
from tests.support.blank_text import INVISIBLE, UNTOKENIZABLE, VISIBLE, text_rejects
from tests.support.data import REAL_DOCUMENT, model
from tests.support.warehouses import query
from warehouse import DuckDBWarehouse


def has_model_tokens(text: str) -> bool:
    return bool(load_tokenizer(model().tokenizer_dir)(text, add_special_tokens=False)["input_ids"])


def test_is_blank_says_what_the_issue_calls_blank():
    assert all(is_blank(text) for text in ["", *INVISIBLE, "\x00", "\x00 \u200b"])
    assert not any(is_blank(text) for text in VISIBLE)


def test_python_and_the_dbt_macro_agree_on_every_code_point(tmp_path):
    env = {
        **os.environ,
        "DUCKDB_PATH": str(tmp_path / "unused.duckdb"),
        "DUCKDB_MEMORY_LIMIT": DEFAULT_DUCKDB_MEMORY_LIMIT,
        "DBT_PROFILES_DIR": str(PROJECT_ROOT),
    }
    compiled = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "compile",
            "--quiet",
            "--target",
            "duckdb",
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
            "--inline",
            "select code_point, {{ is_blank_text('text') }} as blank from characters",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    points = [p for p in range(0x110000) if not 0xD800 <= p <= 0xDFFF]
    con = duckdb.connect()
    con.register("incoming", pa.table({"code_point": points, "text": [chr(p) for p in points]}))
    con.execute("create table characters as select * from incoming")
    blank_in_sql = {p for p, blank in con.execute(compiled.stdout.strip()).fetchall() if blank}
    assert blank_in_sql == {p for p in points if is_blank(chr(p))}
    assert len(blank_in_sql) == 4258  # the ranges' sizes: a change to the definition shows here


def test_blank_and_untokenizable_texts_are_rejects_with_a_reason_and_never_chunks(injected, blank_text_duckdb_run):
    data, injected_texts = injected
    warehouse, chunks = blank_text_duckdb_run
    blank = {p for p, text in injected_texts.items() if is_blank(text)}
    untokenizable = {p for p, text in injected_texts.items() if not is_blank(text) and not has_model_tokens(text)}
    assert len(blank) > len(INVISIBLE) and len(untokenizable) > len(UNTOKENIZABLE)
    assert len(blank) + len(untokenizable) < len(injected_texts)
    original = {
        i
        for i, t in enumerate(json.loads((data / "documents" / f"texts_{REAL_DOCUMENT}.json").read_text()))
        if i not in injected_texts and is_blank(t["text"])
    }
    rejects = text_rejects(warehouse)
    assert {p for p, reason in rejects.items() if reason == "blank_text"} == blank | original
    assert {p for p, reason in rejects.items() if reason == "no_model_tokens"} == untokenizable
    assert not any(is_blank(chunk["text"]) for chunk in chunks)
    assert query(warehouse, "select count(*) from document_chunks where token_count = 0") == [(0,)]
    visible = set(injected_texts) - blank - untokenizable
    chunked = {p for (p,) in query(warehouse, "select distinct source_position from document_chunks")}
    assert visible <= chunked and not (untokenizable & chunked)


def test_nul_characters_leave_texts_at_landing_and_a_text_of_nuls_becomes_a_blank_text_reject(
    injected, tmp_path, capsys
):
    """Postgres text cannot hold U+0000, and a NUL renders as nothing: landing removes it from a document's texts
    (the same loader on every engine) and says so in its report; a text of NULs alone is then blank, a
    `blank_text` reject of the build like any other invisible text, and a text with a NUL inside keeps the rest."""
    data, injected_texts = injected
    folder = tmp_path / "data" / "documents"
    shutil.copytree(data / "documents", folder)
    texts = json.loads((folder / f"texts_{REAL_DOCUMENT}.json").read_text())
    # two real texts with pages, neither injected
    nuls_only, nul_inside = [
        i
        for i, t in enumerate(texts)
        if i not in injected_texts and t.get("pages") and len(t["text"]) > 20 and not is_blank(t["text"])
    ][:2]
    original = texts[nul_inside]["text"]
    texts[nuls_only]["text"] = "\x00\x00"
    texts[nul_inside]["text"] = original[:10] + "\x00" + original[10:]
    (folder / f"texts_{REAL_DOCUMENT}.json").write_text(json.dumps(texts))
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    land_all(tmp_path / "data", warehouse)
    (report,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[land] documents:")]
    assert report.endswith(
        f"; document {REAL_DOCUMENT}: NUL characters (U+0000) removed from 2 texts (Postgres text cannot hold them)"
    ), report
    landed = dict(query(warehouse, "select position, text from raw.document_texts"))
    assert (landed[nuls_only], landed[nul_inside]) == ("", original)
    run_dbt(warehouse, ["run", "--select", "+document_rejects"], target_path=tmp_path / "target")
    assert query(warehouse, f"select reason from document_rejects where source_position = {nuls_only}") == [
        ("blank_text",)
    ]
    assert query(
        warehouse, f"select text from int_text_units where source = 'document' and source_position = {nul_inside}"
    ) == [(original,)]
