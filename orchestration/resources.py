"""What the orchestrator's assets and sensors share: the settings, resolved once when the definitions load (from
the environment `make orchestrate` was started in: DATA_DIR, DUCKDB_PATH, DBT_TARGET, ...), and their warehouse."""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import Settings
from warehouse import Warehouse


@dataclass(frozen=True)
class Platform:
    settings: Settings
    warehouse: Warehouse
