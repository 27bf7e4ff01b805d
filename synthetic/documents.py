"""A synthetic document in the real document store's layout: `texts_<id>.json` + `pages_<id>.csv`.

Like the real offering memorandum it has opaque UUID page refs, texts spanning several pages, blank texts,
duplicated texts, a text longer than the model's window, page refs never used, and page 0 never referenced.
Its section sentences are data: `synthetic/vocabulary/documents.json`.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from synthetic.common import random_uuid, vocabulary, write_csv

# section title -> the sentence every text of that section repeats
TOPICS: dict[str, str] = dict(vocabulary("documents")["topics"])


def write_document(folder: Path, doc_id: str = "10001", pages: int = 30, seed: int = 0) -> tuple[Path, Path]:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    refs = [random_uuid(rng) for _ in range(pages + 1)]  # page 0 .. pages
    texts: list[dict] = []
    topics = list(TOPICS.items())
    for page in range(1, pages + 1):
        title, sentence = topics[page % len(topics)]
        texts.append({"text": f"{title.upper()}. {sentence}", "pages": [refs[page]]})
        if page % 7 == 0:  # a paragraph running over to the next page
            texts.append(
                {
                    "text": f"{sentence} This section continues on the following page.",
                    "pages": [refs[page], refs[min(page + 1, pages)]],
                }
            )
    texts.insert(3, {"text": "   ", "pages": [refs[3]]})
    texts.insert(10, {"text": "", "pages": [refs[9]]})
    texts.append(dict(texts[5]))  # an exact duplicate, as in the real store
    long_text = " ".join(sentence for _ in range(12) for _, sentence in topics)  # well over 256 tokens
    texts.append({"text": long_text, "pages": [refs[pages - 2], refs[pages - 1], refs[pages]]})
    texts_path = folder / f"texts_{doc_id}.json"
    texts_path.write_text(json.dumps(texts, indent=2) + "\n")
    pages_path = folder / f"pages_{doc_id}.csv"
    unused = [random_uuid(rng) for _ in range(2)]  # two refs at the end are never used by any text
    numbered = [*enumerate(refs), *enumerate(unused, start=pages + 1)]
    write_csv(pages_path, ["id", "pg_num"], [[ref, number] for number, ref in numbered])
    return texts_path, pages_path
