"""Landing documents: id validation before any path, clear errors, atomic per-document replacement;
and the model source: archives extracted safely."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from embeddings.model_source import ModelSourceError, extract_model_archive, resolve_model
from landing.documents import document_files, land_document, validate_doc_id
from tests.support.data import PAGES, REAL_DATA, TEXTS, require_real, write_doc
from tests.support.warehouses import query, snapshot
from warehouse.duckdb_file import connect
from warehouse.errors import LandingError


def land(warehouse: Path, folder: Path, doc_id: str = "d1"):
    with connect(warehouse) as con:
        return land_document(con, folder, doc_id)


@pytest.mark.parametrize("doc_id", ["../x", "a/b", "", "x y", "12345.json", "..", None, 12345])
def test_malformed_doc_id_is_refused_before_touching_the_filesystem(doc_id, tmp_path: Path, monkeypatch):
    def no_filesystem(*args, **kwargs):
        raise AssertionError("the filesystem was touched")

    monkeypatch.setattr(Path, "is_file", no_filesystem)
    with pytest.raises(ValueError, match="invalid document id"):
        document_files(tmp_path, doc_id)
    with pytest.raises(ValueError, match="invalid document id"):
        validate_doc_id(doc_id)


def test_missing_files_name_the_expected_paths(tmp_path: Path):
    with pytest.raises(FileNotFoundError) as error:  # and a LandingError: the land command reports it, no traceback
        document_files(tmp_path, "777")
    assert isinstance(error.value, LandingError)
    assert str(tmp_path / "texts_777.json") in str(error.value)
    assert str(tmp_path / "pages_777.csv") in str(error.value)


def test_real_document_lands_all_texts_and_pages(warehouse: Path):
    folder = require_real(REAL_DATA / "documents")
    result = land(warehouse, folder, "12345")
    assert (result.texts, result.pages, result.status) == (3519, 648, "landed")
    assert query(warehouse, "select count(*), count(*) filter (where trim(text) = '') from raw.document_texts") == [
        (3519, 15)
    ]
    assert query(warehouse, "select count(*), min(page_number), max(page_number) from raw.document_pages") == [
        (648, 0, 647)
    ]
    assert land(warehouse, folder, "12345").status == "unchanged"


def test_relanding_replaces_the_document_in_one_transaction(tmp_path: Path, warehouse: Path):
    folder = write_doc(tmp_path / "docs")
    land(warehouse, folder)
    write_doc(folder, texts=[{"text": "Only text now.", "pages": ["ref-b"]}])
    assert land(warehouse, folder).status == "replaced"
    assert query(warehouse, "select position, text, page_refs from raw.document_texts") == [
        (0, "Only text now.", ["ref-b"])
    ]


@pytest.mark.parametrize(
    ("texts", "pages", "message"),
    [
        ('[{"text": "a", "pages": ["ref-a"]', PAGES, "invalid JSON"),
        ({"text": "a"}, PAGES, "expected a JSON list"),
        ([{"pages": ["ref-a"]}], PAGES, 'record 0 has no "text" string'),
        ([{"text": "a", "pages": "ref-a"}], PAGES, '"pages" must be a list of page-ref strings'),
        ([], PAGES, "empty document"),
        ([{"text": "a", "pages": ["ref-\u0000a"]}], PAGES, 'record 0 "pages" contains a NUL character'),
        (TEXTS, "id,pg_num\nref-a,1\nref-b,two\n", "line 3: page number 'two' of ref 'ref-b' is not an integer"),
        (TEXTS, "id,pg_num\nref-a,1\nref-a,2\n", "line 3: page ref 'ref-a' appears twice"),
        (TEXTS, "ref,page\nref-a,1\n", "expected the header 'id,pg_num'"),
    ],
    ids=[
        "malformed-json",
        "not-a-list",
        "no-text",
        "pages-not-a-list",
        "empty",
        "nul-in-page-ref",
        "non-integer-page",
        "duplicate-ref",
        "bad-header",
    ],
)
def test_bad_document_is_refused_and_the_previous_version_stays(tmp_path: Path, warehouse: Path, texts, pages, message):
    folder = write_doc(tmp_path / "docs")
    land(warehouse, folder)
    before = snapshot(warehouse)
    write_doc(folder, texts=texts, pages=pages)
    with pytest.raises(LandingError, match="d1") as error:
        land(warehouse, folder)
    assert message in str(error.value)
    assert snapshot(warehouse) == before


def test_record_level_problems_are_landed_for_dbt_to_reject(tmp_path: Path, warehouse: Path):
    texts = [
        {"text": "no pages key"},
        {"text": "  ", "pages": ["ref-a"]},
        {"text": "unknown ref", "pages": ["ref-zzz"]},
    ]
    land(warehouse, write_doc(tmp_path / "docs", texts=texts))
    assert query(warehouse, "select text, page_refs from raw.document_texts order by position") == [
        ("no pages key", None),
        ("  ", ["ref-a"]),
        ("unknown ref", ["ref-zzz"]),
    ]


# ---------------------------------------------------------------- model archives


def fake_model_dir(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden_size": 8}')
    (folder / "modules.json").write_text("[]")
    return folder


def make_archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_member(name: str, data: bytes = b"{}") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def link_member(name: str, target: str, hard: bool = False) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info, None


def test_model_archive_is_extracted_once_into_a_cache_keyed_by_its_hash(tmp_path: Path):
    model = fake_model_dir(tmp_path / "my-model")
    archive = tmp_path / "my-model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(model, arcname="my-model")
    spec = resolve_model(str(archive), tmp_path)
    assert spec.model_dir.parent.parent == tmp_path / "model_cache" and (spec.model_dir / "config.json").is_file()
    assert spec.model_id.startswith("my-model@")
    assert (
        spec.model_id.split("@")[1] == resolve_model(str(model), tmp_path).model_id.split("@")[1]
    )  # same files, same id
    mtime = spec.model_dir.stat().st_mtime_ns
    assert resolve_model(str(archive), tmp_path).model_dir.stat().st_mtime_ns == mtime  # not re-extracted


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (file_member("../evil.json"), "would land outside"),
        (file_member("model/../../evil.json"), "would land outside"),
        (file_member("/tmp/evil.json"), "would land outside"),
        (link_member("model/link", "/etc/passwd"), "is a link"),
        (link_member("model/hard", "model/config.json", hard=True), "is a link"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink"],
)
def test_unsafe_model_archive_is_refused_and_writes_nothing(tmp_path: Path, member, message):
    archive = make_archive(tmp_path / "bad.tar.gz", [file_member("model/config.json"), member])
    cache = tmp_path / "cache"
    with pytest.raises(ModelSourceError, match=message):
        extract_model_archive(archive, cache)
    assert not any(p for p in cache.rglob("*") if p.is_file()), "nothing may be extracted from an unsafe archive"
    assert not (tmp_path / "evil.json").exists()


def test_model_source_that_is_neither_a_folder_nor_an_archive_is_refused(tmp_path: Path):
    with pytest.raises(ModelSourceError, match="not a model directory"):
        resolve_model(str(tmp_path / "nowhere"), tmp_path)
    with pytest.raises(ModelSourceError, match="hashing"):
        resolve_model("hashing:abc", tmp_path)
