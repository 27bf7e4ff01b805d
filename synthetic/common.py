"""What every generator shares: where the sample lives, the word lists, seeded ids and the file writers.

Word lists, templates and topics are data, kept as JSON under `synthetic/vocabulary/` and read once; the
generators only hold the logic that draws from them. This module imports no generator, so any of them (and
`python -m synthetic`) can import it without a cycle.
"""

from __future__ import annotations

import csv
import json
import random
import uuid
from collections.abc import Iterable
from functools import cache
from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
VOCABULARY_DIR = Path(__file__).resolve().parent / "vocabulary"


@cache
def vocabulary(name: str) -> dict:
    """`synthetic/vocabulary/<name>.json`, parsed once per process (callers copy what they keep into tuples)."""
    return json.loads((VOCABULARY_DIR / f"{name}.json").read_text(encoding="utf-8"))


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from `rng`, so the same seed gives the same ids."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def write_csv(path: Path, header: Iterable[str], rows: Iterable[Iterable[object]]) -> None:
    """CSV with `\\n` line endings on every platform (the committed sample's bytes)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_jsonl(path: Path, records: Iterable[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
