"""What the interest model trains on, read from the warehouse (never from the raw files: landing is their one
reader and checker): users and types (`stg_users`), the catalogue (`stg_interests`), each active user's interests
(`stg_user_activity`) and titles (`int_user_activity_titles`), and the titles' vectors from `int_text_embeddings`
(training.interests.features.user_title_vectors, the query scoring uses too).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np

from landing.interests import SOURCE as LANDING_SOURCE
from landing.interests import land_interests
from landing.land import ensure_raw_tables
from pipeline.dbt_runner import run_dbt
from training.interests.features import user_title_vectors
from warehouse import LandingError, Warehouse

# The models training reads (read_training_data, load_training_data): what the orchestrator's interest_model
# asset depends on
TRAINING_TABLES = ("stg_users", "stg_interests", "stg_user_activity", "int_user_activity_titles", "int_text_embeddings")
# Building these (and their parents) is what training needs from dbt; cautious: no test of a model left out.
TRAINING_BUILD = [
    "--select",
    "+int_text_embeddings",
    "+stg_users",
    "+stg_interests",
    "--indirect-selection",
    "cautious",
]


class InterestDataError(ValueError):
    """The warehouse holds nothing to train on, or data training cannot use; the message says what to do."""


@dataclass(frozen=True)
class Activity:
    titles: tuple[str, ...]  # by title; a title read twice appears twice
    interests: tuple[str, ...]  # the interest ids the user holds: the training labels


@dataclass
class InterestData:
    warehouse: Warehouse
    users: dict[str, str]  # handle -> type, by handle
    interest_ids: list[str]  # the catalogue, by id: the column order of every matrix
    labels: list[str]
    activity: dict[str, Activity]  # handle -> activity, by handle; users without activity are cold-start
    landed_files: list[dict]  # the raw.landed_files rows of the interests folder (lineage)
    title_vectors: dict[str, np.ndarray] = field(default_factory=dict)  # handle -> one vector per title read

    @property
    def sha256(self) -> str:
        """A hash of everything above that training learns from: the data part of the artifact version."""
        rows = [
            sorted(self.users.items()),
            list(zip(self.interest_ids, self.labels)),
            [(handle, a.titles, a.interests) for handle, a in self.activity.items()],
        ]
        return hashlib.sha256(json.dumps(rows).encode()).hexdigest()

    def provenance(self) -> dict:
        where = str(self.warehouse)
        return {
            "warehouse": where,
            "data_sha256": self.sha256,
            "landed_files": self.landed_files,
            "users": len(self.users),
            "users_with_activity": len(self.activity),
            "interests": len(self.interest_ids),
        }


def read_training_data(con: duckdb.DuckDBPyConnection, warehouse: Warehouse) -> InterestData:
    """Users, catalogue and activity (no vectors) from the staged models; every list sorted, so the same data
    gives the same hash and the same model whatever order it landed in."""
    try:
        users = dict(con.execute("select user_handle, user_type from stg_users order by 1").fetchall())
        catalogue = con.execute("select interest_id, label from stg_interests order by 1").fetchall()
        held = con.execute("select user_handle, interest_ids_json from stg_user_activity order by 1").fetchall()
        titles: dict[str, list[str]] = {}
        for handle, title in con.execute(
            "select user_handle, title from int_user_activity_titles order by 1, 2"
        ).fetchall():
            titles.setdefault(handle, []).append(title)
        landed_files = [
            {"source_file": f, "content_hash": h, "rows": n, "loaded_at": str(at)}
            for f, h, n, at in con.execute(
                "select source_file, content_hash, row_count, loaded_at from raw.landed_files where source = ? "
                "order by landing_key",
                [LANDING_SOURCE],
            ).fetchall()
        ]
    except duckdb.CatalogException as exc:
        raise InterestDataError(
            f"{warehouse}: not built for training ({exc}); land and build first "
            f"(make run, or python -m landing.land then dbt build)"
        ) from None
    known = {interest for interest, _ in catalogue}
    activity = {}
    for handle, interests_json in held:
        interests = tuple(sorted(json.loads(interests_json)))  # landing checked: a JSON array of catalogue ids
        if not set(interests) <= known:
            raise InterestDataError(
                f"{warehouse}: stg_user_activity: user {handle} holds an interest id missing from stg_interests"
            )
        activity[handle] = Activity(tuple(titles.get(handle, ())), interests)
    return InterestData(
        warehouse, users, [i for i, _ in catalogue], [label for _, label in catalogue], activity, landed_files
    )


def load_training_data(warehouse: Warehouse, embedding_model_id: str) -> InterestData:
    """read_training_data plus each active user's title vectors of this embedding model, over one read-only
    connection that is closed before training starts (dbt may build the warehouse meanwhile)."""
    try:
        warehouse.require_built()
    except LandingError as exc:
        raise InterestDataError(str(exc)) from None
    with warehouse.open(read_only=True) as con:
        data = read_training_data(con, warehouse)
        if data.activity:
            data.title_vectors = user_title_vectors(con, embedding_model_id)
    read = sum(len(a.titles) for a in data.activity.values())
    missing = read - sum(len(data.title_vectors.get(handle, ())) for handle in data.activity)
    if missing:
        raise InterestDataError(
            f"{warehouse}: int_text_embeddings has no {embedding_model_id} vector for {missing} of the {read} titles "
            f"users read; build them first (dbt build --exclude user_interest_scores+, as make run does)"
        )
    return data


def land_and_build(interests_folder: Path, warehouse: Warehouse, target_path: Path) -> None:
    """Land an interests folder into a warehouse and build what training reads: how a warehouse to train on is
    made outside `make run` (the committed sample for --if-missing, the tests)."""
    with warehouse.open() as con:
        ensure_raw_tables(con)
        land_interests(con, interests_folder)
    run_dbt(warehouse, ["build", *TRAINING_BUILD], target_path)
