"""Settings read once from the environment: where data comes from and where the warehouse lives.

Every entry point (loaders, dbt via profiles.yml, the service) resolves paths the same way, so
`DATA_DIR=../shared/data make run` and the tests point everything at one place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    if not value:
        return default
    path = Path(value).expanduser()
    return path if path.is_absolute() else (Path.cwd() / path).resolve()


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    duckdb_path: Path
    output_dir: Path
    artifacts_dir: Path  # git-ignored: model cache, datasets, trained models
    embedding_model: str  # empty: the packaged all-MiniLM-L6-v2 (see ingestion.embedding)
    published_path: Path  # the read-only copy the service reads (ingestion.publish), never the warehouse itself

    @classmethod
    def from_env(cls) -> "Settings":
        duckdb_path = _path("DUCKDB_PATH", PROJECT_ROOT / "warehouse.duckdb")
        return cls(
            data_dir=_path("DATA_DIR", PROJECT_ROOT / "sample_data"),
            duckdb_path=duckdb_path,
            output_dir=_path("OUTPUT_DIR", PROJECT_ROOT / "output"),
            artifacts_dir=_path("ARTIFACTS_DIR", PROJECT_ROOT / "artifacts"),
            embedding_model=os.environ.get("EMBEDDING_MODEL", ""),
            published_path=_path("PUBLISHED_PATH", duckdb_path.with_name(duckdb_path.stem + ".published.duckdb")),
        )
