"""Landing retrieval corpora (BEIR layout): the real corpus lands whole; every malformed file refuses the
corpus with an error naming the file and line, and leaves the warehouse as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from landing.corpora import land_corpus, parse_qrels, parse_queries, read_beir_folder, validate_corpus_name
from tests.support.data import REAL_CORPUS, require_real
from tests.support.warehouses import query, snapshot
from warehouse import DuckDBWarehouse
from warehouse.duckdb_file import connect
from warehouse.errors import LandingError

PASSAGES = [
    {"_id": "p1", "title": "", "text": "Wi-Fi is a wireless network."},
    {"_id": "p2", "text": "Bluetooth pairs devices."},
]
QUERIES = [{"_id": "q1", "text": "what is wifi"}]
QRELS = "query-id\tcorpus-id\tscore\nq1\tp1\t3\nq1\tp2\t0\n"


def write_corpus(folder: Path, passages=PASSAGES, queries=QUERIES, qrels: str | None = QRELS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = (p if isinstance(p, str) else json.dumps(p) for p in passages)
    (folder / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    if queries is not None:
        (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries) + "\n")
    if qrels is not None:
        (folder / "qrels.tsv").write_text(qrels)
    return folder


def land(warehouse: Path, folder: Path):
    with connect(warehouse) as con:
        return land_corpus(con, folder)


def test_real_corpus_lands_whole(warehouse: Path):
    result = land(warehouse, require_real(REAL_CORPUS))
    assert (result.passages, result.queries, result.qrels, result.status) == (30005, 43, 4342, "landed")
    assert query(
        warehouse, "select count(distinct passage_id), min(position), max(position) from raw.corpus_passages"
    ) == [(30005, 0, 30004)]
    assert query(warehouse, "select grade, count(*) from raw.corpus_qrels group by grade order by grade") == [
        (0, 1596),
        (1, 957),
        (2, 1300),
        (3, 489),
    ]
    assert land(warehouse, REAL_CORPUS).status == "unchanged"


def test_relanding_a_changed_corpus_replaces_it(warehouse: Path, tmp_path: Path):
    folder = write_corpus(tmp_path / "tiny")
    assert land(warehouse, folder).status == "landed"
    write_corpus(folder, passages=PASSAGES[:1], qrels="query-id\tcorpus-id\tscore\nq1\tp1\t2\n")
    assert land(warehouse, folder).status == "replaced"
    assert query(warehouse, "select passage_id from raw.corpus_passages") == [("p1",)]
    assert query(warehouse, "select passage_id, grade from raw.corpus_qrels") == [("p1", 2)]


def test_a_corpus_without_judgments_lands(warehouse: Path, tmp_path: Path):
    result = land(warehouse, write_corpus(tmp_path / "plain", queries=None, qrels=None))
    assert (result.passages, result.queries, result.qrels) == (2, 0, 0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"passages": ['{"_id": "p1", "text": "ok"}', '{"_id": "p2", "text": broken}']},
            r"corpus.jsonl: line 2: invalid JSON",
        ),
        ({"passages": [{"_id": "p1", "text": "a"}, {"_id": "p1", "text": "b"}]}, r"line 2: duplicate _id 'p1'"),
        ({"passages": [{"_id": "p1"}]}, r"line 1: missing string field 'text'"),
        ({"passages": [{"_id": "p1", "text": "a", "title": 7}]}, r"\"title\" must be a string"),
        (
            {"qrels": "query-id\tcorpus-id\tscore\nq1\tp9\t2\n"},
            r"qrels.tsv: line 2: passage 'p9' is not in corpus.jsonl",
        ),
        (
            {"qrels": "query-id\tcorpus-id\tscore\nq7\tp1\t2\n"},
            r"qrels.tsv: line 2: query 'q7' is not in queries.jsonl",
        ),
        (
            {"qrels": "query-id\tcorpus-id\tscore\nq1\tp1\thigh\n"},
            r"qrels.tsv: line 2: expected query-id, corpus-id and an integer grade",
        ),
        ({"qrels": "query-id\tcorpus-id\tscore\nq1\tp1\t2\nq1\tp1\t3\n"}, r"line 3: \(q1, p1\) is judged twice"),
        ({"qrels": "qid\tdocid\trel\nq1\tp1\t2\n"}, r"expected the header"),
        ({"queries": None}, r"judgments without"),
    ],
)
def test_malformed_corpus_is_refused_and_nothing_changes(warehouse: Path, tmp_path: Path, change, message):
    land(warehouse, write_corpus(tmp_path / "good"))
    before = snapshot(warehouse)
    bad = tmp_path / "bad"
    write_corpus(bad, **{"passages": PASSAGES, "queries": QUERIES, "qrels": QRELS, **change})
    if change.get("queries", QUERIES) is None:
        (bad / "queries.jsonl").unlink(missing_ok=True)
    with pytest.raises(LandingError, match=message):
        land(warehouse, bad)
    assert snapshot(warehouse) == before


@pytest.mark.parametrize("name", ["..", "a b", "x/y", ""])
def test_bad_corpus_names_are_refused(name):
    with pytest.raises(ValueError, match="invalid corpus name"):
        validate_corpus_name(name)


# ---------------------------------------------------------------- the parsers (the platform's one BEIR reader)


def test_parsers_read_judgments_and_queries(tmp_path: Path):
    folder = write_corpus(
        tmp_path / "tiny",
        passages=[{"_id": f"d{i}", "text": "x"} for i in (1, 2, 3)],
        queries=[{"_id": "q1", "text": "how to boil an egg"}, {"_id": "q2", "text": "why is the sky blue"}],
        qrels="query-id\tcorpus-id\tscore\nq1\td1\t3\nq1\td2\t0\nq2\td3\t2\n",
    )
    corpus = read_beir_folder(folder)
    assert corpus.judgments() == {"q1": {"d1": 3, "d2": 0}, "q2": {"d3": 2}}
    assert dict(corpus.queries) == {"q1": "how to boil an egg", "q2": "why is the sky blue"}


@pytest.mark.parametrize("bad_line", ["q2\td3", "q2\td3\thigh", "q2 d3 2"])
def test_malformed_qrels_line_names_file_and_line(bad_line: str):
    data = f"query-id\tcorpus-id\tscore\nq1\td1\t3\n{bad_line}\n".encode()
    with pytest.raises(LandingError, match=r"qrels\.tsv: line 3: expected query-id, corpus-id and an integer grade"):
        parse_qrels(Path("qrels.tsv"), data, {"d1", "d3"}, {"q1", "q2"})


def test_queries_may_hold_characters_splitlines_breaks_on():
    data = '{"_id": "q1", "text": "caf\u0085e\u2028menu"}\n{"_id": "q2", "text": "b"}\n'.encode()
    assert parse_queries(Path("queries.jsonl"), data) == ([("q1", "caf\u0085e\u2028menu"), ("q2", "b")], 0)


def test_nul_characters_leave_free_text_and_are_counted_but_refuse_an_id():
    """Postgres text cannot hold U+0000: removed from texts and titles (each repaired record counted for the
    report), while an id holding one is refused, since a repaired id would be another id."""
    data = '{"_id": "q1", "text": "a\\u0000b\\u0000"}\n{"_id": "q2", "text": "\\u0000"}\n{"_id": "q3", "text": "c"}\n'
    assert parse_queries(Path("queries.jsonl"), data.encode()) == ([("q1", "ab"), ("q2", ""), ("q3", "c")], 2)
    with pytest.raises(LandingError, match=r"queries\.jsonl: line 1: '_id' contains a NUL character"):
        parse_queries(Path("queries.jsonl"), b'{"_id": "q\\u00001", "text": "a"}\n')


def test_a_corpus_lands_without_nul_characters_and_the_landing_report_says_so(tmp_path: Path, capsys):
    """Real passages (the judged ones of a real query) with NULs put into a passage's text and title and into a
    query: each lands without them and the report line counts the texts repaired."""
    from landing.land import land_all
    from tests.support.data import write_corpus_subset

    folder = write_corpus_subset(tmp_path / "data" / "retrieval" / "msmarco-mini", ("19335",))
    lines = (folder / "corpus.jsonl").read_bytes().split(b"\n")
    first = json.loads(lines[0])
    lines[0] = json.dumps({**first, "title": "\x00", "text": "\x00" + first["text"]}).encode()
    (folder / "corpus.jsonl").write_bytes(b"\n".join(lines))
    (query_line,) = (folder / "queries.jsonl").read_text().splitlines()
    asked = json.loads(query_line)
    (folder / "queries.jsonl").write_text(json.dumps({**asked, "text": asked["text"] + "\x00"}) + "\n")
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    land_all(tmp_path / "data", warehouse)
    (report,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[land] retrieval:")]
    assert report.endswith(
        "(landed); msmarco-mini: NUL characters (U+0000) removed from 2 texts (Postgres text cannot hold them)"
    ), report
    assert query(warehouse, f"select title, text from raw.corpus_passages where passage_id = '{first['_id']}'") == [
        ("", first["text"])
    ]
    assert query(warehouse, "select text from raw.corpus_queries") == [(asked["text"],)]


def test_malformed_queries_line_names_file_and_line():
    data = b'{"_id": "q1", "text": "a"}\n{"id": "q2", "text": "b"}\n'
    with pytest.raises(LandingError, match=r"queries\.jsonl: line 2: missing string field '_id'"):
        parse_queries(Path("queries.jsonl"), data)


def test_real_trec_dl_judgments_parse():
    corpus = read_beir_folder(require_real(REAL_CORPUS))
    qrels, queries = corpus.judgments(), dict(corpus.queries)
    assert set(qrels) == set(queries) and len(queries) == 43
    assert {grade for judged in qrels.values() for grade in judged.values()} <= {0, 1, 2, 3}
