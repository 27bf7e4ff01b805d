"""Synthetic raw score batches with the real batches' structure and dirt.

Four industries, each normally distributed with its own mean and spread, drifting upward every batch; about 1%
of scores are the string "error" and about 1% the sentinel 99999 with a mangled industry name (letters replaced
by XXXX), like the real feed. Same arguments, same bytes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

# industry -> (mean at batch 0, standard deviation)
INDUSTRIES = {"clothing": (0.50, 0.10), "food": (0.30, 0.08), "cars": (0.65, 0.12), "hair care": (0.45, 0.15)}
DRIFT_PER_BATCH = 0.01
ERROR_RATE = 0.01
SENTINEL_RATE = 0.01
SENTINEL = 99999
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_EPOCH_MS = 1_668_000_000_000  # 2022-11-09, near the real batches' ULID timestamps


def ulid(timestamp_ms: int, randomness: int) -> str:
    """A ULID: 48-bit millisecond timestamp + 80 random bits, Crockford base32, 26 characters."""
    value = (timestamp_ms << 80) | randomness
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def mangle(industry: str, rng: random.Random) -> str:
    """Replace one or two letters by XXXX, as the upstream bug does (cars -> cXXXXrs)."""
    letters = [i for i, ch in enumerate(industry) if ch.isalpha()]
    chosen = set(rng.sample(letters, k=min(len(letters), rng.choice((1, 2)))))
    return "".join("XXXX" if i in chosen else ch for i, ch in enumerate(industry))


def score_batch(batch: int, rows: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed * 1_000_003 + batch)
    names = list(INDUSTRIES)
    records = []
    for i in range(rows):
        industry = rng.choice(names)
        mean, sd = INDUSTRIES[industry]
        score: object = round(rng.gauss(mean + DRIFT_PER_BATCH * batch, sd), 4)
        roll = rng.random()
        if roll < ERROR_RATE:
            score = "error"
        elif roll < ERROR_RATE + SENTINEL_RATE:
            score, industry = SENTINEL, mangle(industry, rng)
        records.append(
            {"id": ulid(_EPOCH_MS + batch * 60_000 + i, rng.getrandbits(80)), "score": score, "industry": industry}
        )
    return records


def write_score_batches(folder: Path, batches: int, rows: int, seed: int = 0, first: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for batch in range(first, first + batches):
        path = folder / f"batch_{batch}.json"
        lines = ",\n".join(json.dumps(record) for record in score_batch(batch, rows, seed))
        path.write_text(f"[\n{lines}\n]\n")
        paths.append(path)
    return paths
