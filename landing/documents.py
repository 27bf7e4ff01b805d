"""Land one document (`texts_<doc_id>.json` + `pages_<doc_id>.csv`) into `raw.document_texts` and
`raw.document_pages`, replacing that document's previous rows in one transaction.

File-level problems (invalid JSON, wrong shape, a record without text, a malformed or ambiguous page map)
refuse the document with an error naming the file; record-level problems (an empty text, a text without
pages, a page ref that does not resolve) are landed as they are and become reject rows in dbt. Texts land as
received but for NUL characters, which are removed and counted (landing.ledger.storable_free_text).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from core.files import sha256_of
from landing.ledger import (
    FolderContents,
    LandingUnit,
    MissingFileError,
    landed,
    record_landing,
    refuse_unstorable,
    refused_unit,
    storable_free_text,
    transaction,
)
from warehouse.errors import LandingError

SOURCE = "documents"
DOC_ID = re.compile(r"[A-Za-z0-9_-]+")
MAX_PAGE_NUMBER = 2**31 - 1  # raw.document_pages.page_number is an INTEGER on every engine
# a document's two files; the id part is checked against DOC_ID separately, so a bad id is refused, not unseen
DOCUMENT_FILE = re.compile(r"(?:texts_(?P<texts_id>.*)\.json|pages_(?P<pages_id>.*)\.csv)", re.S)

RAW_DDL = """
create table if not exists raw.document_texts (
    doc_id varchar not null,
    position integer not null,     -- 0-based position of the text in texts_<doc_id>.json
    text varchar not null,
    page_refs varchar[],           -- as received; null when the record has no "pages"
    source_file varchar not null,
    content_hash varchar not null, -- sha256 of the texts file
    loaded_at timestamp not null,
    primary key (doc_id, position)
);
create table if not exists raw.document_pages (
    doc_id varchar not null,
    page_ref varchar not null,
    page_number integer not null,
    source_file varchar not null,
    content_hash varchar not null, -- sha256 of the pages file
    loaded_at timestamp not null,
    primary key (doc_id, page_ref)
);
"""


@dataclass(frozen=True)
class DocumentLandResult:
    doc_id: str
    texts: int
    pages: int
    status: str  # "landed" | "replaced" | "unchanged"
    texts_without_nul: int = 0  # texts landed with their NUL characters removed (storable_free_text)


@dataclass(frozen=True)
class DocumentTexts:
    records: list[tuple[str, list[str] | None]]  # (text, page refs or None), in file order
    texts_without_nul: int  # how many texts had NUL characters removed


def validate_doc_id(doc_id: object) -> str:
    """Refuse anything but [A-Za-z0-9_-]+ before a path is ever built from it."""
    if not isinstance(doc_id, str) or not DOC_ID.fullmatch(doc_id):
        raise ValueError(f"invalid document id {doc_id!r}: use only letters, digits, '_' and '-'")
    return doc_id


def document_files(folder: Path, doc_id: str) -> tuple[Path, Path]:
    doc_id = validate_doc_id(doc_id)
    texts, pages = Path(folder) / f"texts_{doc_id}.json", Path(folder) / f"pages_{doc_id}.csv"
    missing = [str(p) for p in (texts, pages) if not p.is_file()]
    if missing:
        raise MissingFileError(f"document {doc_id}: expected {texts} and {pages}; missing: {', '.join(missing)}")
    return texts, pages


def folder_contents(folder: Path) -> FolderContents:
    """One unit per document id named by a texts or pages file, in id order: a valid id lands (or is refused by
    land_document, e.g. when one of its two files is missing); an id that breaks the naming rule is refused.
    Any other file is ignored, saying why."""
    folder = Path(folder)
    files_by_id: dict[str, list[Path]] = {}
    ignored = []
    for path in sorted(folder.iterdir()):
        match = DOCUMENT_FILE.fullmatch(path.name)
        if match:
            files_by_id.setdefault(
                match["texts_id"] if match["texts_id"] is not None else match["pages_id"], []
            ).append(path)
        else:
            ignored.append((path, "not a document file (texts_<id>.json or pages_<id>.csv)"))
    units = []
    for doc_id, paths in sorted(files_by_id.items()):
        try:
            validate_doc_id(doc_id)
        except ValueError as exc:
            units.append(refused_unit(str(paths[0]), f"{', '.join(map(str, paths))}: {exc}"))
            continue
        units.append(LandingUnit(f"document {doc_id}", lambda con, doc_id=doc_id: land_document(con, folder, doc_id)))
    return FolderContents(units, ignored)


def parse_texts(path: Path, data: bytes) -> DocumentTexts:
    try:
        items = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LandingError(f"{path}: invalid JSON ({exc})") from None
    if not isinstance(items, list):
        raise LandingError(f'{path}: expected a JSON list of {{"text", "pages"}} records')
    if not items:
        raise LandingError(f"{path}: empty document (no texts)")
    records, texts_without_nul = [], 0
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise LandingError(f"{path}: record {index} is not an object")
        if not isinstance(item.get("text"), str):
            raise LandingError(f'{path}: record {index} has no "text" string')
        refs = item.get("pages")
        if refs is not None and not (isinstance(refs, list) and all(isinstance(r, str) for r in refs)):
            raise LandingError(f'{path}: record {index} "pages" must be a list of page-ref strings')
        for ref in refs or ():
            refuse_unstorable(ref, f'{path}: record {index} "pages"')
        text, removed = storable_free_text(item["text"], f'{path}: record {index} "text"')
        texts_without_nul += removed > 0
        records.append((text, refs))
    return DocumentTexts(records, texts_without_nul)


def parse_pages(path: Path, data: bytes) -> dict[str, int]:
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise LandingError(f"{path}: unreadable CSV ({exc})") from None
    if not rows or [c.strip() for c in rows[0]] != ["id", "pg_num"]:
        raise LandingError(f"{path}: expected the header 'id,pg_num'")
    pages: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 2:
            raise LandingError(f"{path}: line {line} has {len(row)} fields, expected 2")
        ref, number = row[0].strip(), row[1].strip()
        refuse_unstorable(ref, f"{path}: line {line}: page ref {ref!r}")
        # ASCII digits only (\d would take other scripts' digits too), within the column's INTEGER range
        if not re.fullmatch(r"[0-9]+", number):
            raise LandingError(f"{path}: line {line}: page number {number!r} of ref {ref!r} is not an integer")
        if int(number) > MAX_PAGE_NUMBER:
            raise LandingError(f"{path}: line {line}: page number {number} of ref {ref!r} is above {MAX_PAGE_NUMBER}")
        if ref in pages:
            raise LandingError(f"{path}: line {line}: page ref {ref!r} appears twice (ambiguous page number)")
        pages[ref] = int(number)
    return pages


def land_document(con: duckdb.DuckDBPyConnection, folder: Path, doc_id: str) -> DocumentLandResult:
    """Land (or re-land) one document atomically; landing identical files again changes nothing."""
    texts_path, pages_path = document_files(folder, doc_id)
    texts_data, pages_data = texts_path.read_bytes(), pages_path.read_bytes()
    parsed, pages = parse_texts(texts_path, texts_data), parse_pages(pages_path, pages_data)
    texts = parsed.records
    texts_hash, pages_hash = sha256_of(texts_data), sha256_of(pages_data)
    document_hash = sha256_of(f"{texts_hash}:{pages_hash}".encode())
    with transaction(con, RAW_DDL):
        previous = landed(con, SOURCE).get(doc_id)
        if previous and previous[0] == document_hash:
            return DocumentLandResult(doc_id, len(texts), len(pages), "unchanged")
        con.execute("delete from raw.document_texts where doc_id = ?", [doc_id])
        con.execute("delete from raw.document_pages where doc_id = ?", [doc_id])
        text_rows = pa.table(
            {
                "doc_id": pa.array([doc_id] * len(texts), pa.string()),
                "position": pa.array(range(len(texts)), pa.int32()),
                "text": pa.array([t for t, _ in texts], pa.string()),
                "page_refs": pa.array([r for _, r in texts], pa.list_(pa.string())),
            }
        )
        page_rows = pa.table(
            {
                "doc_id": pa.array([doc_id] * len(pages), pa.string()),
                "page_ref": pa.array(list(pages), pa.string()),
                "page_number": pa.array(list(pages.values()), pa.int32()),
            }
        )
        con.register("incoming_texts", text_rows)
        con.register("incoming_pages", page_rows)
        try:
            con.execute(
                "insert into raw.document_texts select *, ?, ?, current_timestamp::timestamp from incoming_texts",
                [str(texts_path), texts_hash],
            )
            con.execute(
                "insert into raw.document_pages select *, ?, ?, current_timestamp::timestamp from incoming_pages",
                [str(pages_path), pages_hash],
            )
        finally:
            con.unregister("incoming_texts")
            con.unregister("incoming_pages")
        record_landing(con, SOURCE, doc_id, str(texts_path), document_hash, len(texts))
    return DocumentLandResult(
        doc_id, len(texts), len(pages), "replaced" if previous else "landed", parsed.texts_without_nul
    )
