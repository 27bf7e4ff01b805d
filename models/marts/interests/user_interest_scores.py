"""Every user scored against every interest of the trained interest model: a calibrated probability and a rank.

Users with activity: the model reads the mean vector of the titles they consumed (from int_text_embeddings, so
each title is embedded once, by the platform's one embedding model) and their type. Users without activity
(cold start): the model's per-type prior, the share of training users of that type holding the interest. A
table rebuilt on every build, so it always matches the current users, activity and model version.
"""

import numpy as np
import pyarrow as pa

PROBABILITY_FLOOR = 1e-6
SCHEMA = [
    ("user_handle", pa.string()),
    ("name", pa.string()),
    ("user_type", pa.string()),
    ("interest_id", pa.string()),
    ("label", pa.string()),
    ("probability", pa.float64()),
    ("rank", pa.int32()),
    ("is_cold_start", pa.bool_()),
    ("model_version", pa.string()),
]


def model(dbt, session):
    dbt.config(materialized="table")
    from core.settings import Settings
    from embeddings.model_source import settings_model
    from training.interests.artifacts import ARTIFACT_SUBDIR
    from training.interests.features import user_features, user_title_vectors
    from training.interests.model import InterestModel

    users = dbt.ref("stg_users").to_arrow_table().to_pylist()
    if not users:  # no interests/ folder in DATA_DIR: nothing to score, and no model needed
        print("[user_interest_scores] no users landed: empty table")
        return pa.table({name: pa.array([], kind) for name, kind in SCHEMA})
    settings = Settings.from_env()  # this model is an entry point: settings resolved here, once
    spec = settings_model(settings)
    interest_model = InterestModel.load(
        settings.interests_model or settings.artifacts_dir / ARTIFACT_SUBDIR, embedding_model_id=spec.model_id
    )

    # the query training reads its features with (dbt finds refs by their literal names: one call each)
    vectors_by_user = user_title_vectors(
        session,
        spec.model_id,
        titles=f"({dbt.ref('int_user_activity_titles').sql_query()})",
        chunks=f"({dbt.ref('int_text_chunks').sql_query()})",
        embeddings=f"({dbt.ref('int_text_embeddings').sql_query()})",
    )

    active = [u for u in users if u["user_handle"] in vectors_by_user]
    probabilities = np.zeros((len(users), len(interest_model.interest_ids)), np.float64)
    if active:
        features = user_features(
            [np.asarray(vectors_by_user[u["user_handle"]], np.float32) for u in active],
            [u["user_type"] for u in active],
        )
        predicted = interest_model.predict(features)
    position = {u["user_handle"]: i for i, u in enumerate(active)}
    for row, user in enumerate(users):
        if user["user_handle"] in position:
            probabilities[row] = predicted[position[user["user_handle"]]]
        else:
            probabilities[row] = interest_model.cold_start(user["user_type"])
    print(
        f"[user_interest_scores] {interest_model.version}: {len(active)} users scored from activity, "
        f"{len(users) - len(active)} cold-start, {len(interest_model.interest_ids)} interests"
    )

    # a model never knows for sure: 0 and 1 would be claims no held-out data supports (a prior of 0 only means
    # no training user of that type held the interest), and "at or above 1.0" must select nothing
    probabilities = np.clip(probabilities, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    n_users, n_interests = probabilities.shape
    # rank 1 = most likely; ties broken by catalogue order so ranks are reproducible
    order = np.argsort(-probabilities, axis=1, kind="stable")
    ranks = np.empty_like(order)
    ranks[np.arange(n_users)[:, None], order] = np.arange(1, n_interests + 1)
    return pa.table(
        schema=pa.schema(SCHEMA),
        data={
            "user_handle": pa.array(np.repeat([u["user_handle"] for u in users], n_interests), pa.string()),
            "name": pa.array(np.repeat([u["name"] for u in users], n_interests), pa.string()),
            "user_type": pa.array(np.repeat([u["user_type"] for u in users], n_interests), pa.string()),
            "interest_id": pa.array(np.tile(interest_model.interest_ids, n_users), pa.string()),
            "label": pa.array(np.tile(interest_model.labels, n_users), pa.string()),
            "probability": pa.array(probabilities.ravel(), pa.float64()),
            "rank": pa.array(ranks.ravel(), pa.int32()),
            "is_cold_start": pa.array(
                np.repeat([u["user_handle"] not in position for u in users], n_interests), pa.bool_()
            ),
            "model_version": pa.array([interest_model.version] * (n_users * n_interests), pa.string()),
        },
    )
