"""Regenerate the project's embedded sample: `python -m synthetic [folder]` (default sample_data/)."""

from __future__ import annotations

import sys
from pathlib import Path

from synthetic.common import SAMPLE_DIR
from synthetic.documents import write_document
from synthetic.interests import write_interests
from synthetic.retrieval import write_retrieval_corpus
from synthetic.score_batches import write_score_batches

SAMPLE_BATCHES, SAMPLE_ROWS = 8, 500


def write_sample(folder: Path = SAMPLE_DIR) -> None:
    """Every input the pipelines and the retrieval evaluation can run on offline, same bytes on every run."""
    write_score_batches(folder / "score_batches", SAMPLE_BATCHES, SAMPLE_ROWS)
    write_document(folder / "documents")
    write_retrieval_corpus(folder / "retrieval" / "sample-faq")
    write_interests(folder / "interests")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE_DIR
    write_sample(target)
    print(f"sample written to {target}")
