"""Land every raw source found in DATA_DIR into the warehouse: `python -m landing.land`.

A missing source folder is skipped with a message, so the same command works on the project's sample and on
any data folder with the same layout (`score_batches/`, `documents/`, `interests/`, `retrieval/`). Nothing found
is skipped in silence: every file lands, is refused (one line on stderr; the rest still lands, and the command
exits 1 at the end) or is reported as ignored and why.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from core.settings import Settings
from landing import corpora, documents, interests, score_batches
from landing.ledger import FolderContents, transaction
from warehouse import Warehouse, target_warehouse
from warehouse.errors import LandingError, WarehouseUnreachable


class FilesRefused(LandingError):
    """Every source was landed, and some files were refused: each was reported on stderr, one line each."""


def _score_batches_summary(results: list[score_batches.LandResult], refused: int) -> str:
    new = [r for r in results if r.status == "landed"]
    return (
        f"{len(results) + refused} batch files, {len(new)} newly landed ({sum(r.rows for r in new)} rows), "
        f"{len(results) - len(new)} already landed" + (f", {refused} refused" if refused else "")
    )


def _nul_removed(count: int, where: str) -> str:
    """The report of `count` texts landed without their NUL characters (landing.ledger.storable_free_text)."""
    return (
        (
            f"; {where}: NUL characters (U+0000) removed from {count} text{'s' if count != 1 else ''} "
            "(Postgres text cannot hold them)"
        )
        if count
        else ""
    )


def _documents_summary(results: list[documents.DocumentLandResult], refused: int) -> str:
    by_status = {status: sum(r.status == status for r in results) for status in ("landed", "replaced", "unchanged")}
    if refused:
        by_status["refused"] = refused
    return (
        f"{len(results) + refused} documents: "
        + ", ".join(f"{n} {status}" for status, n in by_status.items())
        + "".join(_nul_removed(r.texts_without_nul, f"document {r.doc_id}") for r in results if r.status != "unchanged")
    )


def _corpora_summary(results: list[corpora.CorpusLandResult], refused: int) -> str:
    landed = "; ".join(
        f"{r.corpus}: {r.passages} passages, {r.queries} queries, {r.qrels} judgments ({r.status})"
        + (_nul_removed(r.texts_without_nul, r.corpus) if r.status != "unchanged" else "")
        for r in results
    )
    if refused:
        return f"{landed}; {refused} corpora refused" if landed else f"{refused} corpora refused"
    return landed or "no corpus (no <name>/corpus.jsonl)"


def _interests_summary(results: list[interests.InterestsLandResult], refused: int) -> str:
    if refused:
        return "refused"
    return ", ".join(f"{table} {n} rows" for table, n in results[0].rows.items()) + f" ({results[0].status})"


@dataclass(frozen=True)
class Source:
    """A folder under DATA_DIR: what it holds (units to land, files ignored), and the line summing up its landing
    from the loaders' results and the number of refused units."""

    contents: Callable[[Path], FolderContents]
    summary: Callable[[list, int], str]


# folder under DATA_DIR -> its source; each unit lands in one transaction of its own.
LOADERS: dict[str, Source] = {
    "score_batches": Source(score_batches.folder_contents, _score_batches_summary),
    "documents": Source(documents.folder_contents, _documents_summary),
    "retrieval": Source(corpora.folder_contents, _corpora_summary),
    "interests": Source(interests.folder_contents, _interests_summary),
}
# every raw table exists after landing, even for a source with no folder, so dbt build always runs
RAW_DDL = (score_batches.RAW_DDL, documents.RAW_DDL, corpora.RAW_DDL, interests.RAW_DDL)


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    with transaction(con, *RAW_DDL):
        pass


def _one_line(message: str) -> str:
    # a file name may hold a line break: the report stays one line per file
    return message.replace("\r", "\\r").replace("\n", "\\n")


def land_folder(con: duckdb.DuckDBPyConnection, folder_name: str, folder: Path) -> list[str]:
    """Land every unit of one source folder (`folder_name`, a key of LOADERS) found in `folder`, each in one
    transaction; the refusals, one line each (also printed on stderr; the other units still land)."""
    source = LOADERS[folder_name]
    contents = source.contents(folder)
    for path, why in contents.ignored:
        print(_one_line(f"[land] {folder_name}: ignored {path}: {why}"), flush=True)
    results, refusals = [], []
    for unit in contents.units:
        try:
            results.append(unit.land(con))
            continue
        except WarehouseUnreachable:
            raise  # nothing else can land either
        except LandingError as exc:
            reason = str(exc)
        except OSError as exc:  # e.g. a folder named like a file, a file without read permission
            reason = f"{unit.name}: cannot be read ({exc.strerror or exc})"
        refusals.append(_one_line(reason))
        print(f"[land] error: {refusals[-1]}", file=sys.stderr, flush=True)
    print(_one_line(f"[land] {folder_name}: {source.summary(results, len(refusals))}"), flush=True)
    return refusals


def land_all(data_dir: Path, warehouse: Warehouse) -> None:
    """Land every source found in `data_dir` into `warehouse`.

    Every file found ends landed, refused (one line on stderr: the file and why; the other files and sources
    still land) or ignored (one line on stdout saying why). Raises FilesRefused at the end when anything was
    refused, and LandingError at once when nothing can land (no DATA_DIR, no warehouse)."""
    if not data_dir.is_dir():
        raise LandingError(f"DATA_DIR {data_dir} is not a folder")
    refused = 0
    with warehouse.open() as con:
        ensure_raw_tables(con)
        for entry in sorted(data_dir.iterdir()):
            if entry.name not in LOADERS:
                print(_one_line(f"[land] ignored {entry}: not a source folder ({', '.join(LOADERS)})"), flush=True)
        for folder_name, source in LOADERS.items():
            folder = data_dir / folder_name
            if not folder.is_dir():
                print(f"[land] {folder_name}: skipped, {folder} does not exist")
                continue
            refused += len(land_folder(con, folder_name, folder))
    if refused:
        raise FilesRefused(f"{refused} refused (each named on stderr); everything else found was landed")


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=settings.data_dir, help="default: DATA_DIR")
    args = parser.parse_args(argv)
    try:
        warehouse = target_warehouse(settings)
        print(f"[land] DATA_DIR={args.data_dir} DBT_TARGET={warehouse.engine}: {warehouse}")
        land_all(args.data_dir, warehouse)
    except FilesRefused as exc:
        print(f"[land] {exc}")  # stdout: stderr holds exactly one line per refusal
        return 1
    except LandingError as exc:
        print(f"[land] error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
