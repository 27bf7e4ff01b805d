"""A synthetic document in the real document store's layout: `texts_<id>.json` + `pages_<id>.csv`.

Like the real offering memorandum it has opaque UUID page refs, texts spanning several pages, blank texts,
duplicated texts, a text longer than the model's window, page refs never used, and page 0 never referenced.
"""

from __future__ import annotations

import csv
import json
import random
import uuid
from pathlib import Path

TOPICS = {
    "interest": "The notes bear interest at a fixed rate payable semi-annually in arrears on each interest payment date.",
    "redemption": "The issuer may redeem the notes in whole or in part at any time at the redemption price plus accrued interest.",
    "covenants": "The indenture limits the ability of the issuer to incur additional debt, pay dividends and sell assets.",
    "taxation": "Payments on the notes will be made without withholding or deduction for taxes unless required by law.",
    "risk": "An investment in the notes involves a high degree of risk, including currency and liquidity risk.",
    "use of proceeds": "The proceeds of the offering will be used to refinance existing indebtedness and for general corporate purposes.",
    "guarantees": "The notes will be guaranteed on a senior unsecured basis by the parent company and its subsidiaries.",
    "listing": "Application has been made to list the notes on the official list of the stock exchange.",
}


def write_document(folder: Path, doc_id: str = "10001", pages: int = 30, seed: int = 0) -> tuple[Path, Path]:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    refs = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(pages + 1)]  # page 0 .. pages
    texts: list[dict] = []
    topics = list(TOPICS.items())
    for page in range(1, pages + 1):
        title, sentence = topics[page % len(topics)]
        texts.append({"text": f"{title.upper()}. {sentence}", "pages": [refs[page]]})
        if page % 7 == 0:  # a paragraph running over to the next page
            texts.append({"text": f"{sentence} This section continues on the following page.",
                          "pages": [refs[page], refs[min(page + 1, pages)]]})
    texts.insert(3, {"text": "   ", "pages": [refs[3]]})
    texts.insert(10, {"text": "", "pages": [refs[9]]})
    texts.append(dict(texts[5]))  # an exact duplicate, as in the real store
    long_text = " ".join(sentence for _ in range(12) for _, sentence in topics)  # well over 256 tokens
    texts.append({"text": long_text, "pages": [refs[pages - 2], refs[pages - 1], refs[pages]]})
    texts_path = folder / f"texts_{doc_id}.json"
    texts_path.write_text(json.dumps(texts, indent=2) + "\n")
    pages_path = folder / f"pages_{doc_id}.csv"
    with open(pages_path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "pg_num"])
        # two refs at the end are never used by any text
        extra = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(2)]
        writer.writerows([[ref, number] for number, ref in enumerate(refs)] + [[ref, pages + 1 + i] for i, ref in enumerate(extra)])
    return texts_path, pages_path
