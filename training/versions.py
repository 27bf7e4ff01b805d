"""Versioned artifact folders (`datasets/v<N>`, `models/v<N>`): found, verified and published atomically.

A version is written into a hidden staging folder and renamed to the next free `v<N>`, so a reader never sees half
a version and two writers never share one. A dataset version's `manifest.json` lists the sha256 of every file
beside it; `verify_dataset` checks them before anything trains or evaluates on the files.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from core.files import sha256_file

log = logging.getLogger(__name__)

VERSION_DIR = re.compile(r"v(\d+)")


def versions(folder: Path) -> list[tuple[int, Path]]:
    """(N, path) of every `v<N>` folder under `folder`, in ascending N."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := VERSION_DIR.fullmatch(p.name))]
    return sorted(found)


def latest_dataset(artifacts_dir: Path) -> Path:
    found = versions(Path(artifacts_dir) / "datasets")
    if not found:
        raise FileNotFoundError(
            f"no dataset under {Path(artifacts_dir) / 'datasets'}: run `python -m training.finetune_data`"
        )
    return found[-1][1]


def publish_version(staging: Path, parent: Path) -> Path:
    """Rename a finished staging folder to the next free `v<N>` (atomic; retries if another process won N)."""
    for _ in range(100):
        number = (versions(parent)[-1][0] + 1) if versions(parent) else 1
        target = parent / f"v{number}"
        try:
            os.rename(staging, target)  # fails if target exists (non-empty), so two writers never share a version
            return target
        except OSError:
            if not target.exists():
                raise
    raise RuntimeError(f"could not claim a version folder under {parent}")


def verify_dataset(dataset_dir: Path) -> dict:
    """The manifest, after checking every file it lists has the recorded sha256."""
    manifest = json.loads((Path(dataset_dir) / "manifest.json").read_text())
    for name, expected in manifest["files"].items():
        actual = sha256_file(Path(dataset_dir) / name)
        if actual != expected["sha256"]:
            raise ValueError(
                f"{dataset_dir / name}: sha256 {actual} does not match the manifest ({expected['sha256']})"
            )
    return manifest


def write_dataset_version(contents: dict[str, bytes], manifest_bytes: bytes, parent: Path) -> Path:
    """The existing version holding exactly this manifest (and intact files), else a new `v<N>` under `parent`."""
    for _, existing in versions(parent):
        manifest_path = existing / "manifest.json"
        if manifest_path.is_file() and manifest_path.read_bytes() == manifest_bytes:
            try:
                verify_dataset(existing)
            except (ValueError, OSError):
                continue  # tampered or damaged: build a fresh version
            log.info("identical dataset already at %s: reusing it", existing)
            return existing

    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=parent))
    try:
        for name, data in contents.items():
            (staging / name).write_bytes(data)
        (staging / "manifest.json").write_bytes(manifest_bytes)
        return publish_version(staging, parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
