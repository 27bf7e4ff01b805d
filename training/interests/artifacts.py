"""A training run's artifact: `ARTIFACTS_DIR/interests/<version>/` (the model's files, metrics.json, metrics.md,
training.json) and `ARTIFACTS_DIR/interests/LATEST`, the version scoring uses by default.

The version is a hash of the training data as read from the warehouse, the config and the embedding model id:
retraining on the same data gives the same version. A version folder is written through a staging folder and
LATEST through tmp + os.replace, so a reader never sees half a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from training.interests.metrics import metrics_markdown

ARTIFACT_SUBDIR = "interests"


def write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def artifact_version(data_sha256: str, config, embedding_model_id: str) -> str:
    """Same data, config (a dataclass) and embedding model -> same version; where the data came from does not
    count, only what training read."""
    key = json.dumps(
        {"data": data_sha256, "config": asdict(config), "embedding_model_id": embedding_model_id}, sort_keys=True
    )
    return "interests-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def read_latest(root: Path) -> str | None:
    """The version an `interests` folder's LATEST names, None without one."""
    try:
        return (root / "LATEST").read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def resolve_version_folder(path: Path) -> Path:
    """A version folder as given, or the one an `interests` folder's LATEST names."""
    latest = read_latest(path) if not (path / "model.pt").is_file() else None
    return path / latest if latest else path


def latest_if_current(artifacts_dir: Path, embedding_model_id: str) -> str | None:
    """The LATEST version when it exists and was trained with this embedding model, else None."""
    root = Path(artifacts_dir) / ARTIFACT_SUBDIR
    version = read_latest(root)
    if version is None:
        return None
    try:
        trained = json.loads((root / version / "training.json").read_text())["embedding_model_id"]
    except (OSError, ValueError, KeyError):
        return None
    return version if trained == embedding_model_id and (root / version / "model.pt").is_file() else None


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("torch", "numpy", "sentence-transformers", "transformers"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def save_artifact(model, metrics: dict, provenance: dict, config, artifacts_dir: Path) -> Path:
    """Write `model` (a training.interests.model.InterestModel, which reads this module: not imported here)
    into artifacts/interests/<version>/ via a staging folder, then LATEST. provenance: what was trained on
    (warehouse, data hash, landed files, counts), recorded in training.json."""
    root = Path(artifacts_dir) / ARTIFACT_SUBDIR
    root.mkdir(parents=True, exist_ok=True)
    target = root / model.version
    staging = Path(tempfile.mkdtemp(prefix=f".{model.version}-", dir=root))
    staging.chmod(0o755)  # mkdtemp makes it private; the artifact is for every reader of the folder
    try:
        model.save(staging)
        write_json(staging / "metrics.json", metrics)
        (staging / "metrics.md").write_text(metrics_markdown(metrics, model.version), encoding="utf-8")
        write_json(
            staging / "training.json",
            {
                "version": model.version,
                **provenance,
                "embedding_model_id": model.embedding_model_id,
                "config": asdict(config),
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "versions": _library_versions(),
            },
        )
        if target.exists():  # same version = same inputs: replace it with this run's files
            old = Path(tempfile.mkdtemp(prefix=f".{model.version}-old-", dir=root))
            os.replace(target, old / "v")
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    latest_tmp = root / f".LATEST.{os.getpid()}.tmp"
    latest_tmp.write_text(model.version + "\n", encoding="utf-8")
    os.replace(latest_tmp, root / "LATEST")
    return target
