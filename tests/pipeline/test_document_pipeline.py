"""Document vectors end to end on the real 648-page document 12345, with the real model, checked against an
independent recomputation from the two files; plus the incremental and model-switch behaviour."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.settings import PROJECT_ROOT, Settings
from embeddings.chunking import load_tokenizer, max_content_tokens
from embeddings.model_source import resolve_model
from ingestion import ingest
from pipeline.dbt_runner import run_dbt
from pipeline.ingest import DOCUMENT_BUILD
from tests.support.data import REAL_DATA, model, require_real, write_doc
from tests.support.warehouses import query
from warehouse import DuckDBWarehouse

DOCUMENTS = REAL_DATA / "documents"


@pytest.fixture(scope="module")
def real_document(tmp_path_factory):
    """ingest('12345') with the packaged all-MiniLM-L6-v2, into a scratch warehouse."""
    require_real(DOCUMENTS)
    folder = tmp_path_factory.mktemp("documents")
    warehouse = DuckDBWarehouse(folder / "warehouse.duckdb")
    chunks = ingest("12345", data_dir=REAL_DATA, warehouse=warehouse, target_path=folder / "target")
    return warehouse, chunks


@pytest.fixture(scope="module")
def source():
    texts = json.loads((DOCUMENTS / "texts_12345.json").read_text())
    with open(DOCUMENTS / "pages_12345.csv") as handle:
        page_of = {row["id"]: int(row["pg_num"]) for row in csv.DictReader(handle)}
    return texts, page_of


def test_from_ingestion_import_ingest_is_the_function_whatever_was_imported_first():
    import subprocess
    import sys

    # in a fresh interpreter: the submodule first, then the package's name (a lazy wrapper once broke exactly this)
    code = "import pipeline.ingest; from ingestion import ingest; assert callable(ingest), ingest"
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_running_an_ingestion_module_prints_no_warning():
    """`make run` runs landing.land, pipeline.publish and pipeline.export with -m: no package may import its own
    module first, or runpy warns that it found the module in sys.modules."""
    import subprocess
    import sys

    for module in ("landing.land", "pipeline.publish", "pipeline.export", "pipeline.ingest", "ingestion"):
        result = subprocess.run(
            [sys.executable, "-W", "error", "-m", module, "--help"], cwd=PROJECT_ROOT, capture_output=True, text=True
        )
        assert result.returncode == 0 and "Warning" not in result.stderr, (module, result.stderr)


def test_texts_land_and_blank_ones_are_rejected(real_document):
    warehouse, _ = real_document
    assert query(warehouse, "select count(*) from raw.document_texts where doc_id = '12345'") == [(3519,)]
    assert query(warehouse, "select reason, count(*) from document_rejects group by reason") == [("blank_text", 15)]
    # every text is either chunked or rejected
    assert query(warehouse, "select count(distinct source_position) from document_chunks") == [(3519 - 15,)]


def test_chunks_cover_every_text_within_the_models_window(real_document, source):
    warehouse, chunks = real_document
    texts, _ = source
    spec = model()
    tokenizer, max_tokens = load_tokenizer(spec.tokenizer_dir), max_content_tokens(spec)
    rows = query(warehouse, "select source_position, chunk_index, text, token_count from document_chunks order by 1, 2")
    assert len(rows) == len(chunks) == 3986
    by_text: dict[int, list[tuple[int, str, int]]] = {}
    for position, index, text, token_count in rows:
        by_text.setdefault(position, []).append((index, text, token_count))
    for position, parts in by_text.items():
        original = texts[position]["text"]
        assert [index for index, _, _ in parts] == list(range(len(parts)))
        n_tokens = len(tokenizer(original, add_special_tokens=False)["input_ids"])
        if n_tokens <= max_tokens:
            assert [text for _, text, _ in parts] == [original]  # fits: one chunk, the whole text
            continue
        # split: verbatim slices, in order, overlapping, covering the text from its first to its last token
        starts = []
        cursor = 0
        for _, text, token_count in parts:
            assert 0 < token_count <= max_tokens
            assert len(tokenizer(text, add_special_tokens=False)["input_ids"]) <= max_tokens
            start = original.find(text, cursor)
            assert start >= 0, "a chunk is not a slice of its text"
            starts.append(start)
            cursor = start + 1
        assert original[: starts[0]].strip() == ""
        ends = [start + len(text) for start, (_, text, _) in zip(starts, parts)]
        assert original[ends[-1] :].strip() == ""
        assert all(starts[i + 1] < ends[i] for i in range(len(parts) - 1)), "consecutive chunks must overlap"


def test_every_chunks_pages_are_its_texts_resolved_page_numbers(real_document, source):
    warehouse, chunks = real_document
    texts, page_of = source
    rows = query(warehouse, "select source_position, pages from document_chunks order by source_position, chunk_index")
    for (position, pages), chunk in zip(rows, chunks):
        expected = sorted({page_of[ref] for ref in texts[position]["pages"]})
        assert pages == expected == chunk["pages"]
    assert chunks[0]["pages"] == [1]  # the first text is on page 1 (page 0, the cover, is never referenced)


def test_ingest_returns_unit_tensors_in_document_order(real_document, source):
    warehouse, chunks = real_document
    texts, _ = source
    assert all(isinstance(c["vector"], torch.Tensor) for c in chunks)
    vectors = torch.stack([c["vector"] for c in chunks])
    assert vectors.dtype == torch.float32 and vectors.shape == (3986, 384)
    assert torch.allclose(vectors.norm(dim=1), torch.ones(len(chunks)), atol=1e-3)
    positions = query(warehouse, "select source_position from document_chunks order by source_position, chunk_index")
    assert chunks[0]["text"] == texts[positions[0][0]]["text"]
    # identical texts get identical vectors
    seen: dict[str, torch.Tensor] = {}
    duplicates = 0
    for chunk in chunks:
        if chunk["text"] in seen:
            duplicates += 1
            assert torch.equal(seen[chunk["text"]], chunk["vector"])
        seen[chunk["text"]] = chunk["vector"]
    assert duplicates >= 383  # 398 duplicate texts in the file, of which 15 blank
    # the real model puts related passages together: a chunk is its own nearest neighbour and a
    # paraphrase-free query lands on a topical chunk
    from embeddings.encoders import encode_texts

    query_vector = encode_texts(model(), ["What is the interest rate of the notes?"], progress=False)[0]
    best = int(np.argmax(vectors.numpy() @ query_vector))
    assert "interest" in chunks[best]["text"].lower()


def test_export_writes_vector_store_ready_parquet(real_document, tmp_path: Path):
    import pyarrow.parquet as pq

    from pipeline.export import export_tables

    warehouse, chunks = real_document
    (path,) = export_tables(warehouse, tmp_path, ("document_chunks",))
    table = pq.read_table(path)
    assert table.num_rows == len(chunks)
    embedding_type = table.schema.field("embedding").type
    assert embedding_type.list_size == 384 and str(embedding_type.value_type) == "float"
    assert table.column("pages").to_pylist() == [c["pages"] for c in chunks]
    first = np.asarray(table.column("embedding")[0].as_py(), dtype=np.float32)
    assert np.array_equal(first, chunks[0]["vector"].numpy())


def test_a_second_build_encodes_nothing(real_document):
    warehouse, _ = real_document
    before = query(warehouse, "select count(*) from int_text_embeddings")
    result = run_dbt(warehouse, ["build", *DOCUMENT_BUILD], warehouse.path.parent / "target")
    assert "0 chunks to encode, 3596 already encoded" in result.stdout
    assert query(warehouse, "select count(*) from int_text_embeddings") == before == [(3596,)]


def test_switching_the_model_re_encodes_everything(tmp_path: Path):
    write_doc(tmp_path / "data" / "documents")
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    first = ingest("d1", data_dir=tmp_path / "data", warehouse=warehouse, target_path=tmp_path / "target")
    assert len(first) == 2 and first[0]["vector"].shape == (384,)
    result = run_dbt(
        warehouse, ["build", *DOCUMENT_BUILD], tmp_path / "target", extra_env={"EMBEDDING_MODEL": "hashing:384"}
    )
    assert "hashing-384: 2 chunks to encode, 0 already encoded" in result.stdout
    assert query(warehouse, "select distinct model_id from document_chunks") == [("hashing-384",)]
    assert query(warehouse, "select count(*) from int_text_embeddings") == [(4,)]  # both models' vectors kept
    # the same model files run by another backend are another model: its vectors are never mixed with these
    result = run_dbt(
        warehouse, ["build", *DOCUMENT_BUILD], tmp_path / "target", extra_env={"EMBEDDING_BACKEND": "torch"}
    )
    torch_id = resolve_model("", Settings.from_env().artifacts_dir, "torch").model_id
    assert torch_id != model().model_id and f"{torch_id}: 2 chunks to encode, 0 already encoded" in result.stdout
    assert query(warehouse, "select count(*) from int_text_embeddings") == [(6,)]


def test_record_level_problems_become_document_rejects(tmp_path: Path):
    texts = [
        {"text": "A good text.", "pages": ["ref-a"]},
        {"text": "No pages key."},
        {"text": "Empty pages.", "pages": []},
        {"text": " \n ", "pages": ["ref-a"]},
        {"text": "Only an unknown ref.", "pages": ["ref-zzz"]},
        {"text": "One good ref, one unknown.", "pages": ["ref-b", "ref-yyy"]},
    ]
    write_doc(tmp_path / "data" / "documents", texts=texts)
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    chunks = ingest("d1", data_dir=tmp_path / "data", warehouse=warehouse, target_path=tmp_path / "target")
    assert [(c["text"], c["pages"]) for c in chunks] == [("A good text.", [1]), ("One good ref, one unknown.", [2])]
    assert query(
        warehouse, "select source_position, page_ref, reason from document_rejects order by 1, 2 nulls first"
    ) == [
        (1, None, "no_page_refs"),
        (2, None, "no_page_refs"),
        (3, None, "blank_text"),
        (4, None, "no_resolvable_page"),
        (4, "ref-zzz", "unresolved_page_ref"),
        (5, "ref-yyy", "unresolved_page_ref"),
    ]


def test_cli_prints_a_summary_and_writes_parquet(tmp_path: Path):
    import subprocess
    import sys

    import pyarrow.parquet as pq

    write_doc(tmp_path / "data" / "documents")
    env = {
        **__import__("os").environ,
        "DATA_DIR": str(tmp_path / "data"),
        "DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        "EMBEDDING_MODEL": "hashing:384",
    }
    out = tmp_path / "d1.parquet"
    result = subprocess.run(
        [sys.executable, "-m", "ingestion", "d1", "--output", str(out)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "document d1: 2 chunks, 384-dimensional vectors, pages 1..2 (2 distinct)" in result.stdout
    table = pq.read_table(out)
    vector_type = table.schema.field("vector").type
    assert table.num_rows == 2 and vector_type.list_size == 384 and str(vector_type.value_type) == "float"
    published = tmp_path / "w.published.duckdb"  # the service's copy, so a running service sees the document
    assert f"search index published to {published}" in result.stdout
    assert query(published, "select count(*) from search_chunks where doc_id = 'd1'") == [(2,)]
    bad = subprocess.run(
        [sys.executable, "-m", "ingestion", "../x"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    assert bad.returncode == 1 and "invalid document id '../x'" in bad.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "ingestion", "404"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    assert missing.returncode == 1 and "texts_404.json" in missing.stderr
