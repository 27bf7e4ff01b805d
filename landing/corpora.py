"""Land retrieval corpora in BEIR layout (`retrieval/<name>/corpus.jsonl`, optional `queries.jsonl` and
`qrels.tsv`) into `raw.corpus_passages`, `raw.corpus_queries` and `raw.corpus_qrels`.

A corpus is one unit: its three files land together in one transaction, replacing the corpus's previous rows,
and landing identical files again changes nothing. Any malformed line refuses the whole corpus with an error
naming the file and the line, so a half-read corpus never reaches the search index. Passage and query texts land
as received but for NUL characters, which are removed and counted (landing.ledger.storable_free_text).

This module is the platform's one reader of the BEIR files (`read_beir_folder`); everything downstream (search,
`make evaluate-retrieval`, the fine-tuning data and its evaluation) reads the corpus from the warehouse. The corpus's
version is the `content_hash` landing records in `raw.landed_files`: the sha256 of its three files' sha256 hex
digests joined by ':' (an absent file counting as empty).
"""

from __future__ import annotations

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

SOURCE = "corpora"
FILES = ("corpus.jsonl", "queries.jsonl", "qrels.tsv")  # a corpus folder's files, in content_hash order
CORPUS_NAME = re.compile(r"[A-Za-z0-9_.-]+")
FREE_TEXT = ("text", "title")  # the JSON Lines fields that are free text (NUL removed), not identifiers

RAW_DDL = """
create table if not exists raw.corpus_passages (
    corpus varchar not null,
    passage_id varchar not null,   -- the corpus's own id (BEIR `_id`)
    position integer not null,     -- 0-based line of the passage in corpus.jsonl
    title varchar not null,
    text varchar not null,
    source_file varchar not null,
    content_hash varchar not null, -- sha256 of the corpus's files together
    loaded_at timestamp not null,
    primary key (corpus, passage_id)
);
create table if not exists raw.corpus_queries (
    corpus varchar not null,
    query_id varchar not null,
    text varchar not null,
    source_file varchar not null,
    loaded_at timestamp not null,
    primary key (corpus, query_id)
);
create table if not exists raw.corpus_qrels (
    corpus varchar not null,
    query_id varchar not null,
    passage_id varchar not null,
    grade integer not null,        -- graded judgment (TREC DL: 0 not relevant .. 3 perfectly relevant)
    source_file varchar not null,
    loaded_at timestamp not null,
    primary key (corpus, query_id, passage_id)
);
"""


@dataclass(frozen=True)
class CorpusLandResult:
    corpus: str
    passages: int
    queries: int
    qrels: int
    status: str  # "landed" | "replaced" | "unchanged"
    texts_without_nul: int = 0  # passages and queries landed with their NUL characters removed


def validate_corpus_name(name: object) -> str:
    if not isinstance(name, str) or not CORPUS_NAME.fullmatch(name) or name in {".", ".."}:
        raise ValueError(f"invalid corpus name {name!r}: use only letters, digits, '_', '-' and '.'")
    return name


def _json_lines(path: Path, data: bytes, required: tuple[str, ...]) -> tuple[list[dict], int]:
    """The records of a JSON Lines file, each with the `required` string fields, and how many records had NUL
    characters removed from their free text ("text", "title"; storable_free_text). Ids are never repaired."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LandingError(f"{path}: not UTF-8 ({exc})") from None
    records, seen, repaired = [], set(), 0
    # JSON Lines separates records by '\n' only: str.splitlines() would also cut at U+2028 or U+0085,
    # which real passages contain inside their strings
    for line_number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LandingError(f"{path}: line {line_number}: invalid JSON ({exc})") from None
        if not isinstance(record, dict):
            raise LandingError(f"{path}: line {line_number}: expected a JSON object")
        for key in required:
            if not isinstance(record.get(key), str):
                raise LandingError(f"{path}: line {line_number}: missing string field {key!r}")
        removed = 0
        for key in (*required, "title"):
            where = f"{path}: line {line_number}: {key!r}"
            if key in FREE_TEXT and isinstance(record.get(key), str):
                record[key], nul = storable_free_text(record[key], where)
                removed += nul
            else:
                refuse_unstorable(record.get(key), where)
        repaired += removed > 0
        if record["_id"] in seen:
            raise LandingError(f"{path}: line {line_number}: duplicate _id {record['_id']!r}")
        seen.add(record["_id"])
        records.append(record)
    if not records:
        raise LandingError(f"{path}: no records")
    return records, repaired


def parse_passages(path: Path, data: bytes) -> tuple[list[tuple[str, str, str]], int]:
    """(passage_id, title, text) in file order (a missing title is an empty one: BEIR allows it), and how many
    passages had NUL characters removed."""
    records, repaired = _json_lines(path, data, ("_id", "text"))
    for line_number, record in enumerate(records, start=1):
        if not isinstance(record.get("title", ""), str):
            raise LandingError(f'{path}: record {line_number}: "title" must be a string')
    return [(r["_id"], r.get("title", ""), r["text"]) for r in records], repaired


def parse_queries(path: Path, data: bytes) -> tuple[list[tuple[str, str]], int]:
    """(query_id, text) in file order, and how many queries had NUL characters removed."""
    records, repaired = _json_lines(path, data, ("_id", "text"))
    return [(r["_id"], r["text"]) for r in records], repaired


def parse_qrels(path: Path, data: bytes, passage_ids: set[str], query_ids: set[str]) -> list[tuple[str, str, int]]:
    try:
        lines = [line.rstrip("\r") for line in data.decode("utf-8").split("\n")]
    except UnicodeDecodeError as exc:
        raise LandingError(f"{path}: not UTF-8 ({exc})") from None
    if not lines or lines[0].split("\t") != ["query-id", "corpus-id", "score"]:
        raise LandingError(f"{path}: expected the header 'query-id<TAB>corpus-id<TAB>score'")
    judgments: dict[tuple[str, str], int] = {}
    for line_number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3 or not re.fullmatch(r"-?[0-9]{1,9}", fields[2].strip()):  # an INTEGER column
            raise LandingError(f"{path}: line {line_number}: expected query-id, corpus-id and an integer grade")
        query_id, passage_id, grade = fields[0].strip(), fields[1].strip(), int(fields[2])
        if query_id not in query_ids:
            raise LandingError(f"{path}: line {line_number}: query {query_id!r} is not in queries.jsonl")
        if passage_id not in passage_ids:
            raise LandingError(f"{path}: line {line_number}: passage {passage_id!r} is not in corpus.jsonl")
        if (query_id, passage_id) in judgments:
            raise LandingError(f"{path}: line {line_number}: ({query_id}, {passage_id}) is judged twice")
        judgments[(query_id, passage_id)] = grade
    return [(q, p, g) for (q, p), g in judgments.items()]


@dataclass(frozen=True)
class BeirCorpus:
    """A corpus folder read and checked: what landing writes."""

    name: str
    folder: Path
    passages: list[tuple[str, str, str]]  # (passage_id, title, text) in file order
    queries: list[tuple[str, str]]  # (query_id, text)
    qrels: list[tuple[str, str, int]]  # (query_id, passage_id, grade)
    content_hash: str  # the corpus version (module docstring)
    texts_without_nul: int = 0  # passages and queries whose NUL characters were removed

    def judgments(self) -> dict[str, dict[str, int]]:
        """query id -> passage id -> grade."""
        judged: dict[str, dict[str, int]] = {}
        for query_id, passage_id, grade in self.qrels:
            judged.setdefault(query_id, {})[passage_id] = grade
        return judged


def read_beir_folder(folder: Path) -> BeirCorpus:
    """Read and check `corpus.jsonl` and the optional `queries.jsonl` and `qrels.tsv` of a corpus folder."""
    folder = Path(folder)
    name = validate_corpus_name(folder.name)
    corpus_path, queries_path, qrels_path = (folder / name for name in FILES)
    if not corpus_path.is_file():
        raise MissingFileError(f"corpus {name}: expected {corpus_path}")
    if qrels_path.is_file() and not queries_path.is_file():
        raise LandingError(f"{qrels_path}: judgments without {queries_path}")
    corpus_data = corpus_path.read_bytes()
    queries_data = queries_path.read_bytes() if queries_path.is_file() else b""
    qrels_data = qrels_path.read_bytes() if qrels_path.is_file() else b""
    passages, passages_repaired = parse_passages(corpus_path, corpus_data)
    queries, queries_repaired = parse_queries(queries_path, queries_data) if queries_data else ([], 0)
    qrels = (
        parse_qrels(qrels_path, qrels_data, {p for p, _, _ in passages}, {q for q, _ in queries}) if qrels_data else []
    )
    content_hash = sha256_of(b":".join(sha256_of(d).encode() for d in (corpus_data, queries_data, qrels_data)))
    return BeirCorpus(name, folder, passages, queries, qrels, content_hash, passages_repaired + queries_repaired)


def land_corpus(con: duckdb.DuckDBPyConnection, folder: Path) -> CorpusLandResult:
    """Land (or re-land) one corpus folder atomically."""
    corpus = read_beir_folder(folder)
    counts = (len(corpus.passages), len(corpus.queries), len(corpus.qrels))
    corpus_path, queries_path, qrels_path = (corpus.folder / name for name in FILES)
    with transaction(con, RAW_DDL):
        previous = landed(con, SOURCE).get(corpus.name)
        if previous and previous[0] == corpus.content_hash:
            return CorpusLandResult(corpus.name, *counts, "unchanged")
        for table in ("corpus_passages", "corpus_queries", "corpus_qrels"):
            con.execute(f"delete from raw.{table} where corpus = ?", [corpus.name])
        tables = {
            "incoming_passages": pa.table(
                {
                    "passage_id": pa.array([p for p, _, _ in corpus.passages], pa.string()),
                    "position": pa.array(range(len(corpus.passages)), pa.int32()),
                    "title": pa.array([t for _, t, _ in corpus.passages], pa.string()),
                    "text": pa.array([x for _, _, x in corpus.passages], pa.string()),
                }
            ),
            "incoming_queries": pa.table(
                {
                    "query_id": pa.array([q for q, _ in corpus.queries], pa.string()),
                    "text": pa.array([t for _, t in corpus.queries], pa.string()),
                }
            ),
            "incoming_qrels": pa.table(
                {
                    "query_id": pa.array([q for q, _, _ in corpus.qrels], pa.string()),
                    "passage_id": pa.array([p for _, p, _ in corpus.qrels], pa.string()),
                    "grade": pa.array([g for _, _, g in corpus.qrels], pa.int32()),
                }
            ),
        }
        for view, table in tables.items():
            con.register(view, table)
        try:
            con.execute(
                "insert into raw.corpus_passages "
                "select ?, *, ?, ?, current_timestamp::timestamp from incoming_passages",
                [corpus.name, str(corpus_path), corpus.content_hash],
            )
            con.execute(
                "insert into raw.corpus_queries select ?, *, ?, current_timestamp::timestamp from incoming_queries",
                [corpus.name, str(queries_path)],
            )
            con.execute(
                "insert into raw.corpus_qrels select ?, *, ?, current_timestamp::timestamp from incoming_qrels",
                [corpus.name, str(qrels_path)],
            )
        finally:
            for view in tables:
                con.unregister(view)
        record_landing(con, SOURCE, corpus.name, str(corpus_path), corpus.content_hash, counts[0])
    return CorpusLandResult(corpus.name, *counts, "replaced" if previous else "landed", corpus.texts_without_nul)


def folder_contents(folder: Path) -> FolderContents:
    """One unit per corpus folder under `retrieval/` holding any of FILES, in name order (refused when its name
    breaks the rule, or by land_corpus when corpus.jsonl is missing); every other file or folder is ignored,
    saying why, and so is a corpus folder's file that is not one of FILES (a README, say)."""
    units, ignored = [], []
    for sub in sorted(Path(folder).iterdir()):
        if not sub.is_dir():
            ignored.append((sub, f"not a corpus folder (a folder holding {', '.join(FILES)})"))
            continue
        if not any((sub / name).exists() for name in FILES):
            ignored.append((sub, f"holds none of {', '.join(FILES)}"))
            continue
        ignored += [
            (path, f"not a corpus file ({', '.join(FILES)})")
            for path in sorted(sub.iterdir())
            if path.name not in FILES
        ]
        try:
            validate_corpus_name(sub.name)
        except ValueError as exc:
            units.append(refused_unit(str(sub), f"{sub}: {exc}"))
            continue
        units.append(LandingUnit(str(sub), lambda con, sub=sub: land_corpus(con, sub)))
    return FolderContents(units, ignored)
