"""`python -m training.interests`: train the interest model on what the warehouse holds, into
`ARTIFACTS_DIR/interests/<version>/` (and LATEST).

`make run` calls it with --if-missing between two dbt builds: after everything but `user_interest_scores` (so
the users, catalogue, activity and title vectors are in the warehouse) and before `user_interest_scores+`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from core.settings import PROJECT_ROOT

# what --if-missing trains on when the warehouse has users but no activity to learn from (the real users):
# the model their cold-start priors come from, as `make run` has always provided one
SAMPLE_INTERESTS = PROJECT_ROOT / "sample_data" / "interests"


def main(argv: list[str] | None = None) -> int:
    from core.settings import Settings
    from embeddings.model_source import ModelSourceError, settings_model
    from pipeline.dbt_runner import DbtError
    from training.interests.artifacts import latest_if_current
    from training.interests.data import InterestDataError, land_and_build, load_training_data
    from training.interests.metrics import metrics_markdown
    from training.interests.train import train_on
    from warehouse import DuckDBWarehouse, LandingError, target_warehouse

    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m training.interests", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing when LATEST exists and was trained with the configured embedding model",
    )
    parser.add_argument(
        "--artifacts-dir", type=Path, default=settings.artifacts_dir, help="default: ARTIFACTS_DIR (artifacts/)"
    )
    args = parser.parse_args(argv)
    try:
        warehouse = target_warehouse(settings)  # DBT_TARGET's
        spec = settings_model(settings)
        if args.if_missing:
            version = latest_if_current(args.artifacts_dir, spec.model_id)
            if version:
                print(f"{version} (already trained with the configured embedding model; --if-missing)")
                return 0
            print("--if-missing: no LATEST model trained with the configured embedding model; training")
        data = load_training_data(warehouse, spec.model_id)
        print(
            f"data: {warehouse} ({len(data.users)} users, {len(data.activity)} with activity, "
            f"{len(data.interest_ids)} interests)"
        )
        if not data.users:
            print("no users in the warehouse: nothing to train on, nothing to score (user_interest_scores stays empty)")
            return 0
        if args.if_missing and not data.activity:
            print(
                f"no user activity to learn from: training on the committed sample ({SAMPLE_INTERESTS}), landed "
                "into a scratch warehouse and built there (dbt embeds its titles: minutes); the warehouse's users "
                "get its cold-start priors",
                flush=True,
            )
            with tempfile.TemporaryDirectory(prefix="interests_sample_") as scratch:
                sample = DuckDBWarehouse(Path(scratch) / "warehouse.duckdb")
                land_and_build(SAMPLE_INTERESTS, sample, Path(scratch) / "target")
                data = load_training_data(sample, spec.model_id)
                run = train_on(data, args.artifacts_dir, spec)
        elif not data.activity:
            raise InterestDataError(
                f"{warehouse}: {len(data.users)} users but no user activity to learn "
                f"from (DATA_DIR/interests/user_activity.csv)"
            )
        else:
            run = train_on(data, args.artifacts_dir, spec)
    except (InterestDataError, ModelSourceError, LandingError, DbtError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print()
    print(metrics_markdown(run.metrics, run.version))
    print(f"timings (s): {run.seconds}")
    print(f"artifact: {run.path}")
    return 0
