"""The committed sample user-interest data is what the generator makes, is consistent, and is learnable."""

from __future__ import annotations

import csv
import json
import re
import uuid
from pathlib import Path

import numpy as np
import pytest
import yaml

from core.settings import PROJECT_ROOT
from synthetic.common import SAMPLE_DIR
from synthetic.interests import SEPARATOR, write_interests

COMMITTED = SAMPLE_DIR / "interests"
FILES = ("users.csv", "interests.csv", "user_activity.csv")
HEADERS = {
    "users.csv": "id,name,type",
    "interests.csv": "id,label",
    "user_activity.csv": "USER_HANDLE,USER_TYPE,CONTENT_TITLES_JOINED,USER_INTERESTS",
}


def read_rows(name: str) -> list[dict[str, str]]:
    with (COMMITTED / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def test_regenerating_gives_the_committed_bytes(tmp_path: Path):
    write_interests(tmp_path)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (COMMITTED / name).read_bytes(), name


@pytest.mark.parametrize("name", FILES)
def test_headers_and_line_endings(name: str):
    text = (COMMITTED / name).read_text(encoding="utf-8")
    assert text.splitlines()[0] == HEADERS[name]
    assert text.endswith("\n") and "\r" not in text


def test_ids_and_references_are_consistent():
    users = read_rows("users.csv")
    interests = read_rows("interests.csv")
    activity = read_rows("user_activity.csv")
    user_type = {user["id"]: user["type"] for user in users}
    assert len(user_type) == len(users) and all(is_uuid(user["id"]) for user in users)
    assert all(user["type"] in ("B2B", "B2C") for user in users)
    assert all(re.fullmatch(r"[A-Z][a-z]+", user["name"]) for user in users)

    interest_ids = {interest["id"] for interest in interests}
    assert 250 <= len(interests) <= 350
    assert len(interest_ids) == len(interests) and all(is_uuid(i) for i in interest_ids)
    assert len({interest["label"] for interest in interests}) == len(interests)

    handles = [row["USER_HANDLE"] for row in activity]
    assert len(set(handles)) == len(handles)
    for row in activity:
        assert user_type[row["USER_HANDLE"]] == row["USER_TYPE"], row["USER_HANDLE"]
        held = json.loads(row["USER_INTERESTS"])
        assert 1 <= len(held) <= 5 and len(set(held)) == len(held) and set(held) <= interest_ids
        titles = row["CONTENT_TITLES_JOINED"].split(SEPARATOR)
        assert 5 <= len(titles) <= 40 and all(title and "|" not in title for title in titles)
    assert 0 < len(users) - len(activity) < 0.1 * len(users)  # some cold-start users, not many


def test_the_title_separator_is_the_dbt_var_the_sql_splits_on():
    project = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text())
    assert SEPARATOR == project["vars"]["activity_title_separator"] == " | "
    (sql,) = PROJECT_ROOT.glob("models/**/int_user_activity_titles.sql")
    assert "split_to_rows('content_titles_joined', var(\"activity_title_separator\"))" in sql.read_text()


def _matrices() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Binary user x title-word and user x interest matrices for the users with activity, and their types."""
    activity = read_rows("user_activity.csv")
    interest_index = {row["id"]: i for i, row in enumerate(read_rows("interests.csv"))}
    docs = [set(re.findall(r"[a-z0-9]+", row["CONTENT_TITLES_JOINED"].lower())) for row in activity]
    word_index = {word: i for i, word in enumerate(sorted(set().union(*docs)))}
    words = np.zeros((len(activity), len(word_index)), dtype=np.float32)
    held = np.zeros((len(activity), len(interest_index)), dtype=np.float32)
    for user, (doc, row) in enumerate(zip(docs, activity)):
        words[user, [word_index[word] for word in doc]] = 1
        held[user, [interest_index[i] for i in json.loads(row["USER_INTERESTS"])]] = 1
    return words, held, np.array([row["USER_TYPE"] for row in activity])


def _precision_at_5(scores: np.ndarray, truth: np.ndarray, popularity: np.ndarray) -> float:
    scores = scores + 1e-6 * popularity / popularity.max()  # ties go to the more popular interest
    top5 = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    return float(np.take_along_axis(truth, top5, axis=1).sum() / (5 * len(truth)))


def test_title_words_predict_interests_better_than_popularity():
    words, held, types = _matrices()
    test = np.arange(len(held)) % 5 == 0  # every fifth user is held out
    train = ~test
    popularity = held[train].sum(axis=0)

    # an interest's vocabulary: words in its train users' titles, at least twice and three times as often as overall
    together = held[train].T @ words[train]
    rate = together / np.maximum(popularity, 1)[:, None]
    vocabulary = ((together >= 2) & (rate >= 3 * words[train].mean(axis=0))).astype(np.float32)
    overlap = _precision_at_5(words[test] @ vocabulary.T, held[test], popularity)

    baseline = _precision_at_5(np.zeros_like(held[test]), held[test], popularity)
    by_type = np.zeros_like(held[test])
    for kind in ("B2B", "B2C"):
        by_type[types[test] == kind] = held[train & (types == kind)].sum(axis=0)
    typed_baseline = _precision_at_5(by_type, held[test], popularity)

    print(f"precision@5: overlap {overlap:.3f}, popularity {baseline:.3f}, popularity by type {typed_baseline:.3f}")
    assert overlap >= 1.5 * baseline
    assert overlap >= 1.5 * typed_baseline
    assert overlap <= 0.9  # not trivially separable


def test_b2b_and_b2c_users_hold_different_interests():
    _, held, types = _matrices()
    top10 = {kind: set(np.argsort(-held[types == kind].sum(axis=0), kind="stable")[:10]) for kind in ("B2B", "B2C")}
    assert len(top10["B2B"] & top10["B2C"]) <= 5
    assert 0.4 <= (types == "B2C").mean() <= 0.7
