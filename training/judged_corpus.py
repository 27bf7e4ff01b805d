"""A judged retrieval corpus as the warehouse holds it: the one source of the fine-tuning data and its evaluation.

- passages: `stg_corpus_passages`, in corpus order, with its `passage_text`, the text the platform embeds and
  indexes (the title, when there is one, before the passage): the rule lives in that staging model alone;
- queries and graded judgments: the `corpus_queries` / `corpus_qrels` marts, read by
  `search.evaluate.judged_corpora` (what `make evaluate-retrieval` scores too);
- the version: the corpus's row in `raw.landed_files`, whose `content_hash` is the sha256 landing computed over
  its three files (landing.corpora). A dataset's manifest records it; evaluation refuses a warehouse that holds
  another version, instead of hashing the files again.

The corpus has to be landed and the warehouse built first (`DATA_DIR=../shared/data make run`). These readers never
land or build anything themselves: the warehouse has one writer, the platform's pipeline, and the marts and search
chunks they read are only consistent after a whole `dbt build`. Short-lived read-only connections.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb

from landing import corpora
from search.evaluate import judged_corpora
from warehouse import LandingError, Warehouse

RUN_FIRST = "land and build it first: `DATA_DIR=../shared/data make run`"
HASH_RULE = "sha256 of the sha256 hex digests of the files, in this order, joined by ':' (landing.corpora)"


class CorpusUnavailable(ValueError):
    """The warehouse does not hold the corpus (or not the version asked for); the message says what to run."""


@dataclass(frozen=True)
class JudgedCorpus:
    name: str
    landed: dict  # lineage from raw.landed_files: the files and their content_hash (the corpus version)
    ids: list[str]  # passage ids in corpus order
    texts: list[str]  # stg_corpus_passages.passage_text, aligned with ids
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]  # query id -> passage id -> grade

    @property
    def version(self) -> str:
        return self.landed["content_hash"]


def _not_built(warehouse: Warehouse, error: duckdb.CatalogException) -> CorpusUnavailable:
    return CorpusUnavailable(f"{warehouse} is not built ({str(error).splitlines()[0]}): {RUN_FIRST}")


@contextlib.contextmanager
def read_warehouse(warehouse: Warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection; a missing warehouse or model is an error naming what to run."""
    try:
        warehouse.require_built()
    except LandingError:
        raise CorpusUnavailable(f"no warehouse at {warehouse}: {RUN_FIRST}") from None
    with warehouse.open(read_only=True) as con:
        try:
            yield con
        except duckdb.CatalogException as exc:
            raise _not_built(warehouse, exc) from None


def landed_version(con: duckdb.DuckDBPyConnection, corpus: str) -> dict:
    """The corpus's lineage as landing recorded it in raw.landed_files."""
    row = con.execute(
        "select content_hash from raw.landed_files where source = ? and landing_key = ?",
        [corpora.SOURCE, corpus],
    ).fetchone()
    if row is None:
        raise CorpusUnavailable(f"corpus {corpus!r} is not landed: {RUN_FIRST}")
    return {"files": list(corpora.FILES), "content_hash": row[0], "hash": HASH_RULE}


def read_judged_corpus(warehouse: Warehouse, corpus: str, version: str | None = None) -> JudgedCorpus:
    """Passages, queries, judgments and lineage of one landed and built corpus; with `version` (a dataset
    manifest's content hash), refused unless the warehouse holds that very version."""
    with read_warehouse(warehouse) as con:
        landed = landed_version(con, corpus)
        if version is not None and landed["content_hash"] != version:
            raise CorpusUnavailable(
                f"{warehouse} holds corpus {corpus!r} version {landed['content_hash'][:12]}, not the version "
                f"{version[:12]} the dataset was built from: land the dataset's files again, or build a new dataset"
            )
        rows = con.execute(
            "select passage_id, passage_text from stg_corpus_passages where corpus = ? order by source_position",
            [corpus],
        ).fetchall()
    try:
        queries, qrels = judged_corpora(warehouse)[corpus]
    except duckdb.CatalogException as exc:
        raise _not_built(warehouse, exc) from None
    except KeyError:
        raise CorpusUnavailable(
            f"corpus {corpus!r} has no judged queries in corpus_queries/corpus_qrels: {RUN_FIRST}"
        ) from None
    ids = [passage_id for passage_id, _ in rows]
    known = set(ids)
    for query_id, judged in qrels.items():
        # the marts are tables: a corpus landed again without a build leaves them describing the previous version
        if query_id not in queries or not known.issuperset(judged):
            raise CorpusUnavailable(
                f"corpus_qrels of {corpus!r} judge queries or passages the landed corpus does not hold (query "
                f"{query_id!r}): the marts are older than the landing; run `make build`"
            )
    return JudgedCorpus(corpus, landed, ids, [text for _, text in rows], queries, qrels)
