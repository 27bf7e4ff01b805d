"""Synthetic user-interest data with the real feed's shape: `users.csv`, `interests.csv`, `user_activity.csv`.

The original interaction data is unavailable, so this makes structured stand-ins a model can learn from and a wrong
model scores badly on. About 300 job-title-like interests ("Pastry chef", "Data analyst") come from 46 fields; each
field has a pool of topic words and every interest draws 8 of them, so interests in one field share vocabulary.
Each interest has its own catalogue of content titles built from templates and its topic words. Users hold 1-5
interests, picked with a Zipf-like popularity that B2B users tilt towards professional fields and B2C users towards
hobby fields; they consume 5-40 titles, about 75% from their interests' catalogues and the rest noise (other
interests' titles, generic platform content). About 5% of users have no activity row (cold start).
The fields, labels, topic words, templates and name syllables are data: `synthetic/vocabulary/interests.json`.
Same arguments, same bytes.
"""

from __future__ import annotations

import bisect
import json
import random
from itertools import accumulate
from pathlib import Path

from synthetic.common import SAMPLE_DIR, random_uuid, vocabulary, write_csv

B2B, B2C, MIXED = "B2B", "B2C", "mixed"

_VOCABULARY = vocabulary("interests")
# field -> (lean, interest labels, topic words). Topic words are lower case except acronyms and names.
FIELDS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    field: (entry["lean"], tuple(entry["labels"]), tuple(entry["topics"]))
    for field, entry in _VOCABULARY["fields"].items()
}

# weight of a field's interests for each user type, by the field's lean
LEAN_WEIGHT = {B2B: {B2B: 1.0, B2C: 0.08}, B2C: {B2B: 0.08, B2C: 1.0}, MIXED: {B2B: 0.45, B2C: 0.45}}

TEMPLATES: tuple[str, ...] = tuple(_VOCABULARY["title_templates"])
VERBS: tuple[str, ...] = tuple(_VOCABULARY["verbs"])
GENERIC_TITLES: tuple[str, ...] = tuple(_VOCABULARY["generic_titles"])
MONTHS: tuple[str, ...] = tuple(_VOCABULARY["months"])

INTEREST_COUNT = 300
TOPICS_PER_INTEREST = 8
TITLES_PER_INTEREST = 30
ZIPF_EXPONENT = 0.9
B2C_SHARE = 0.55
ACTIVE_SHARE = 0.95
ON_INTEREST_SHARE = 0.75
INTERESTS_PER_USER = {1: 0.25, 2: 0.32, 3: 0.22, 4: 0.13, 5: 0.08}
MIN_TITLES, MAX_TITLES, MODE_TITLES = 5, 40, 8
from landing.interests import TITLE_SEPARATOR as SEPARATOR  # noqa: E402  (one definition: dbt_project.yml)

ACTIVITY_HEADER = ("USER_HANDLE", "USER_TYPE", "CONTENT_TITLES_JOINED", "USER_INTERESTS")

_ONSETS: tuple[str, ...] = tuple(_VOCABULARY["name_onsets"])
_VOWELS: tuple[str, ...] = tuple(_VOCABULARY["name_vowels"])


def _name(rng: random.Random) -> str:
    syllables = rng.choice((2, 3, 3, 3))
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)).capitalize()


def _role(label: str) -> str:
    """The label as it reads inside a sentence: "Data analyst" -> "data analyst", acronyms kept ("HR manager")."""
    first, _, rest = label.partition(" ")
    if first[1:].islower():
        first = first.lower()
    return f"{first} {rest}".strip()


def _with_article(role: str) -> str:
    first = role.split(" ")[0]
    spoken_vowel = first[0] in "aeiou" if not first.isupper() else first[0] in "AEFHILMNORSX"
    return f"{'an' if spoken_vowel else 'a'} {role}"


def _title(template: str, topics: list[str], label: str, rng: random.Random) -> str:
    topic, topic2 = rng.sample(topics, 2)
    role = _role(label)
    text = template.format(
        n=rng.choice((3, 5, 7, 10, 12)),
        verb=rng.choice(VERBS),
        topic=topic,
        topic2=topic2,
        role=role,
        a_role=_with_article(role),
        year=rng.choice((2022, 2023, 2024, 2025)),
    )
    return text[0].upper() + text[1:]


def make_interests(seed: int = 0) -> list[dict]:
    """The interests, in field order: id, label, field, lean, topic words, title catalogue, popularity rank."""
    rng = random.Random(f"{seed}:interests")
    candidates = [(field, label) for field, (_, labels, _) in FIELDS.items() for label in labels]
    assert len({label for _, label in candidates}) == len(candidates), "interest labels must be unique"
    kept = set(rng.sample(range(len(candidates)), INTEREST_COUNT))
    interests = []
    for index, (field, label) in enumerate(candidates):
        if index not in kept:
            continue
        lean, _, pool = FIELDS[field]
        topics = [pool[i] for i in sorted(rng.sample(range(len(pool)), TOPICS_PER_INTEREST))]
        titles: list[str] = []
        for _ in range(20 * TITLES_PER_INTEREST):
            if len(titles) == TITLES_PER_INTEREST:
                break
            title = _title(rng.choice(TEMPLATES), topics, label, rng)
            if title not in titles:
                titles.append(title)
        interests.append(
            {"id": random_uuid(rng), "label": label, "field": field, "lean": lean, "topics": topics, "titles": titles}
        )
    ranks = list(range(len(interests)))
    rng.shuffle(ranks)
    for interest, rank in zip(interests, ranks):
        interest["rank"] = rank
    return interests


def _generic_title(rng: random.Random) -> str:
    title = rng.choice(GENERIC_TITLES)
    if title in ("Weekly newsletter", "Release notes", "Product update") and rng.random() < 0.5:
        title = f"{title}: {rng.choice(MONTHS)} {rng.choice((2023, 2024, 2025))}"
    return title


def write_interests(folder: Path, users: int = 2000, seed: int = 0) -> None:
    """Write users.csv, interests.csv and user_activity.csv into folder; same arguments, same bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    interests = make_interests(seed)
    write_csv(folder / "interests.csv", ("id", "label"), [(i["id"], i["label"]) for i in interests])

    rng = random.Random(f"{seed}:users")
    people = [(random_uuid(rng), _name(rng), B2C if rng.random() < B2C_SHARE else B2B) for _ in range(users)]
    write_csv(folder / "users.csv", ("id", "name", "type"), people)

    rng = random.Random(f"{seed}:activity")
    cumulative = {
        kind: list(accumulate(LEAN_WEIGHT[i["lean"]][kind] / (i["rank"] + 1) ** ZIPF_EXPONENT for i in interests))
        for kind in (B2B, B2C)
    }
    counts, count_weights = list(INTERESTS_PER_USER), list(INTERESTS_PER_USER.values())
    rows = []
    for handle, _, kind in people:
        if rng.random() >= ACTIVE_SHARE:
            continue  # cold start: no activity row
        wanted = rng.choices(counts, count_weights)[0]
        held: list[int] = []
        while len(held) < wanted:
            index = bisect.bisect_right(cumulative[kind], rng.random() * cumulative[kind][-1])
            index = min(index, len(interests) - 1)
            if index not in held:
                held.append(index)
        # the first interest is the main one: it gets more of the user's attention
        attention = [2.0] + [1.0] * (len(held) - 1)
        n_titles = round(rng.triangular(MIN_TITLES, MAX_TITLES, MODE_TITLES))
        titles: list[str] = []
        for _ in range(4 * n_titles):
            if len(titles) == n_titles:
                break
            draw = rng.random()
            if draw < ON_INTEREST_SHARE:
                title = rng.choice(interests[rng.choices(held, attention)[0]]["titles"])
            elif draw < ON_INTEREST_SHARE + (1 - ON_INTEREST_SHARE) / 2:
                title = rng.choice(rng.choice(interests)["titles"])
            else:
                title = _generic_title(rng)
            if title not in titles:
                titles.append(title)
        assert all("|" not in title for title in titles)
        ids = json.dumps([interests[i]["id"] for i in held], separators=(",", ":"))
        rows.append((handle, kind, SEPARATOR.join(titles), ids))
    write_csv(folder / "user_activity.csv", ACTIVITY_HEADER, rows)


if __name__ == "__main__":
    write_interests(SAMPLE_DIR / "interests")
