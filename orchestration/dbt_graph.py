"""The dbt project as the orchestrator's assets, read from dbt's manifest (no list of models written here): one
asset per seed and model, one asset check per test, through dagster-dbt; dbt itself runs through the project's own
runner (`dbt-runner`, pipeline.dbt_runner: Postgres's Python-model phases, Spark's launcher, the unfinished-build
repair), never a second way of calling dbt.

Three groups of nodes, three definitions, because they run differently:
- the score models (SCORE_MODELS): partitioned by score batch. A run of batches a..b builds them incrementally;
  when batch a is already built, the models are first rewound to before it (dbt's rewind_incremental_models), so a
  re-run really recomputes a and everything after it (each later window holds the earlier batches);
- the interest models (INTEREST_MODELS): after the interest model is trained (assets.interest_model), as `make run`;
- every other node, at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import AssetKey, AssetSpec, Failure
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings
from dagster_dbt.errors import DagsterDbtCliRuntimeError

from core.settings import Settings
from pipeline.dbt_runner import run_dbt
from warehouse import Warehouse
from warehouse.base import default_schema_tables

SCORE_MODELS = "source:raw.score_batches+ known_industries+"
INTEREST_MODELS = "user_interest_scores+"
INTEREST_MODEL_ASSET = AssetKey("interest_model")  # assets.interest_model: what user_interest_scores scores with
RAW_SCHEMA = "raw"
# what the score models are built through: the validated records' batches (the first score model)
BUILT_BATCHES_TABLE = "int_score_records_validated"


def manifest_path(settings: Settings) -> Path:
    return settings.orchestrator_home / "dbt" / "manifest.json"


def prepare_manifest(settings: Settings, warehouse: Warehouse) -> Path:
    """`dbt parse` into the orchestrator's own target folder, once per start (not in every process that loads the
    definitions); the manifest's path."""
    manifest = manifest_path(settings)
    run_dbt(warehouse, ["parse", "--quiet"], target_path=manifest.parent)
    return manifest


class PlatformTranslator(DagsterDbtTranslator):
    """dbt's nodes as this project names them: the raw tables under `raw/` (what the landers produce), the models
    by name, grouped by domain (models/<layer>/<domain>/); user_interest_scores after the interest model."""

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_dbt_selection_by_name=True))

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "landing"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[2] if len(fqn) > 3 else "seeds"

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if manifest["nodes"].get(unique_id, {}).get("name") == "user_interest_scores":
            spec = spec.merge_attributes(deps=[INTEREST_MODEL_ASSET])
        return spec


TRANSLATOR = PlatformTranslator()


def raw_asset_key(table: str) -> AssetKey:
    """The asset key dagster-dbt gives the raw source table `table`: what a lander must produce."""
    return AssetKey([RAW_SCHEMA, table])


def model_asset_key(model: str) -> AssetKey:
    return AssetKey(model)


def table_asset_key(table: str) -> AssetKey:
    """The asset of a warehouse table named as the GX suites name them: `raw.<table>` or a model's name."""
    schema, _, name = table.rpartition(".")
    return raw_asset_key(name) if schema == RAW_SCHEMA else model_asset_key(name)


def built_through(warehouse: Warehouse) -> int | None:
    """The last score batch the score models are built through; None before their first build."""
    with warehouse.open(read_only=True) as con:
        if BUILT_BATCHES_TABLE not in default_schema_tables(con):
            return None
        (batch,) = con.execute(f"select max(batch) from {BUILT_BATCHES_TABLE}").fetchone()
    return batch


def rewind(warehouse: Warehouse, from_batch: int, target_path: Path) -> None:
    """Every score model's rows at or past `from_batch` deleted (dbt's rewind_incremental_models), so the next
    build recomputes them."""
    args = json.dumps({"from_batch": from_batch})
    run_dbt(warehouse, ["run-operation", "rewind_incremental_models", "--args", args], target_path=target_path)


# a dbt failure worth retrying: the database went away mid-run (restarted, failed over), not the project's fault
TRANSIENT = re.compile(
    r"server closed the connection|terminating connection|could not connect|connection refused|"
    r"connection to server .* failed|the database system is (starting up|shutting down|in recovery)|"
    r"connection already closed|SSL SYSCALL error",
    re.IGNORECASE,
)


def transient(message: str) -> bool:
    return bool(TRANSIENT.search(message))


def stream_or_fail(events: Iterator) -> Iterator:
    """dagster-dbt's events of a dbt invocation, with its failure sorted: a lost connection is raised as it is
    (the asset's retry policy runs the build again: the runner's unfinished-build repair completes it), anything
    else as a Failure that is not retried (a failed test, a model that does not compile: running it again cannot
    help)."""
    try:
        yield from events
    except DagsterDbtCliRuntimeError as exc:
        if transient(str(exc)):
            raise
        raise Failure(description=failure_line(str(exc)), allow_retries=False) from None


# what dbt prints before a node's error or failed test: `Failure in model x (path)`, `Runtime Error in model x (path)`
NODE_FAILURE = re.compile(r"^(?:Failure|(?:\w+ )?Error) in (?:model|test|seed|snapshot|unit_test) (\S+)")
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def failure_line(message: str) -> str:
    """dbt's first failure in one line, `<node>: <what the database or dbt said>` (dagster-dbt's message is the
    command, then dbt's log); the message's last line when no node is named."""
    lines = [ANSI_COLOUR.sub("", line).strip() for line in message.splitlines()]
    lines = [line for line in lines if line]
    for index, line in enumerate(lines):
        match = NODE_FAILURE.match(line)
        if match:
            detail = next((later for later in lines[index + 1 :] if not NODE_FAILURE.match(later)), "")
            return f"{match[1]}: {detail}" if detail else line
    return lines[-1] if lines else message
