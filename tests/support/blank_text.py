"""The real document 12345 with invisible, visible, untokenizable and range-boundary texts injected, built on
DuckDB: what every engine's blank-text rejects are compared with (fixtures registered by tests/conftest.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from core.settings import PROJECT_ROOT
from core.text import is_blank
from ingestion import ingest
from landing.documents import land_document
from landing.land import ensure_raw_tables
from pipeline.dbt_runner import run_dbt
from tests.support.data import REAL_DATA, REAL_DOCUMENT, require_real
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


@pytest.fixture(scope="session")
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
        return dict(
            con.execute("select source_position, reason from document_rejects where page_ref is null").fetchall()
        )


@pytest.fixture(scope="session")
def blank_text_duckdb_run(injected, tmp_path_factory):
    data, _ = injected
    folder = tmp_path_factory.mktemp("blank_duckdb")
    warehouse = DuckDBWarehouse(folder / "warehouse.duckdb")
    chunks = ingest(
        REAL_DOCUMENT, data_dir=data, warehouse=warehouse, target_path=folder / "target"
    )  # lands, dbt build, must not fail
    return warehouse, chunks


def land_and_build_rejects(warehouse, data: Path, folder: Path) -> None:
    with warehouse.open() as con:
        ensure_raw_tables(con)
        land_document(con, data / "documents", REAL_DOCUMENT)
    # models only: the data tests on these models also read other sources' models (the DuckDB run builds all)
    run_dbt(warehouse, ["run", "--select", "+document_rejects"], target_path=folder / "target")
