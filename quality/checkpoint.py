"""Validate the warehouse with the Great Expectations suites of gx/: `python -m quality.checkpoint`.

Each table the suites cover is read into pandas over a short-lived read-only DuckDB connection (GX's SQL
datasource does not work on DuckDB) and validated through the pandas datasource `warehouse` of the file-backed
GX project in gx/, one GX checkpoint per table. Results and data docs go to gx/uncommitted/ (git-ignored).
A table that does not exist or is empty is skipped with a note. One line per suite; each failed expectation
is printed with its table, type, column and observed value. Exit 1 when a critical expectation failed;
warnings (severity "warning", e.g. the share of rejects) are printed but do not fail the run. The vector
length expected of document_chunks is the dimension of the embedding model EMBEDDING_MODEL resolves to (the
suites' `embedding_dim` parameter), so a warehouse built with another model validates against its own size.

`python -m quality.checkpoint --write-suites` regenerates gx/expectations/*.json from quality/expectations.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
from pathlib import Path

import pandas as pd

from core.settings import PROJECT_ROOT, Settings
from embeddings.model_source import embedding_dimension, settings_model
from quality.expectations import EMBEDDING_DIM_PARAMETER, SUITES, before_importing_gx, suite_text
from warehouse import LandingError, Warehouse, target_warehouse

GX_DIR = PROJECT_ROOT / "gx"
DATASOURCE = "warehouse"
BATCH_DEFINITION = "whole_dataframe"
SITE = "local_site"


def write_suites(gx_dir: Path = GX_DIR) -> list[Path]:
    folder = gx_dir / "expectations"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for make in SUITES:
        definition = make()
        path = folder / f"{definition['name']}.json"
        path.write_text(suite_text(definition))
        written.append(path)
    return written


def _split(table: str, default_schema: str = "main") -> tuple[str, str]:
    schema, _, name = table.rpartition(".")
    return schema or default_schema, name


def load_tables(warehouse: Warehouse) -> dict[str, pd.DataFrame]:
    """Suite name -> dataframe, for every covered table that exists and has rows (else a printed note); read
    through DuckDB on every engine (the suites' queries are DuckDB's)."""
    frames: dict[str, pd.DataFrame] = {}
    with warehouse.open(read_only=True) as con:
        (default_schema,) = con.execute("select current_schema()").fetchone()
        existing = set(
            con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_catalog = current_database()"
            ).fetchall()
        )
        for make in SUITES:
            definition = make()
            name, table = definition["name"], definition["table"]
            missing = [t for t in (table, *definition.get("requires", [])) if _split(t, default_schema) not in existing]
            if missing:
                print(f"[quality] {name}: skipped, table {', '.join(missing)} does not exist")
                continue
            (rows,) = con.execute(f"select count(*) from {table}").fetchone()
            if rows == 0:
                print(f"[quality] {name}: skipped, table {table} is empty")
                continue
            frames[name] = con.execute(definition["query"]).df()
    return frames


def _context(gx_dir: Path):
    before_importing_gx()
    import great_expectations as gx

    context = gx.get_context(mode="file", context_root_dir=str(gx_dir))
    return context


def _batch_definition(context, asset_name: str):
    """The pandas datasource, asset and batch definition: committed in great_expectations.yml, else created."""
    try:
        datasource = context.data_sources.get(DATASOURCE)
    except (KeyError, ValueError, LookupError):
        datasource = context.data_sources.add_pandas(DATASOURCE)
    try:
        asset = datasource.get_asset(asset_name)
    except LookupError:
        asset = datasource.add_dataframe_asset(asset_name)
    try:
        return asset.get_batch_definition(BATCH_DEFINITION)
    except (KeyError, LookupError):
        return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)


def _column(config) -> str:
    kwargs = config.kwargs
    if "column" in kwargs:
        return kwargs["column"]
    for key in ("column_list", "column_A", "column_set"):
        if key in kwargs:
            value = kwargs[key]
            return ",".join(value) if isinstance(value, list) else str(value)
    return "-"


def _observed(result) -> str:
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return f"error: {info.get('exception_message')}"
    for value in info.values():  # per-metric exception infos
        if isinstance(value, dict) and value.get("raised_exception"):
            return f"error: {value.get('exception_message')}"
    details = result.result or {}
    if "observed_value" in details:
        return f"observed value {details['observed_value']!r}"
    if "unexpected_count" in details:
        sample = list(details.get("partial_unexpected_list") or [])[:5]
        percent = details.get("unexpected_percent")
        share = f" ({percent:.3g}%)" if isinstance(percent, (int, float)) else ""
        return (
            f"observed {details['unexpected_count']} unexpected of {details.get('element_count')} rows{share}, "
            f"e.g. {sample}"
        )
    return f"observed {details!r}"


def _severity(config) -> str:
    return str(getattr(config.severity, "value", config.severity) or "critical")


@dataclasses.dataclass(frozen=True)
class SuiteOutcome:
    """One suite's validation of its table: how many expectations passed, and each failed one as a line."""

    suite: str
    table: str
    rows: int
    total: int
    failed: tuple[str, ...]  # "table t: <type> on column c failed (<severity>): observed ..."
    critical: tuple[str, ...]  # the failed ones of severity critical: what fails the checkpoint

    @property
    def passed(self) -> int:
        return self.total - len(self.failed)

    @property
    def status(self) -> str:
        return "FAIL" if self.critical else "WARN" if self.failed else "PASS"


def validate(warehouse: Warehouse, embedding_dim: int, gx_dir: Path = GX_DIR) -> list[SuiteOutcome]:
    """Every covered table that exists and has rows validated by its suite; the data docs rebuilt. Raises
    LandingError when the warehouse is plainly not built, FileNotFoundError without a GX project."""
    before_importing_gx()
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    warehouse.require_built()
    if not (gx_dir / "great_expectations.yml").is_file():
        raise FileNotFoundError(f"no GX project at {gx_dir} (great_expectations.yml missing)")
    frames = load_tables(warehouse)
    context = _context(gx_dir)
    run_id = RunIdentifier(run_name="warehouse", run_time=datetime.datetime.now(datetime.timezone.utc))
    batch_definitions = {make()["name"]: _batch_definition(context, make()["name"]) for make in SUITES}
    parameters = {EMBEDDING_DIM_PARAMETER: embedding_dim}
    outcomes = []
    for make in SUITES:
        definition = make()
        name, table = definition["name"], definition["table"]
        if name not in frames:
            continue
        frame = frames[name]
        suite = context.suites.get(name)
        validation = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=name, data=batch_definitions[name], suite=suite)
        )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=f"warehouse_{name}",
                validation_definitions=[validation],
                actions=[],
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
            )
        )
        result = checkpoint.run(batch_parameters={"dataframe": frame}, expectation_parameters=parameters, run_id=run_id)
        expectation_results = [r for run in result.run_results.values() for r in run.results]
        failed, critical = [], []
        for r in expectation_results:
            if r.success:
                continue
            config = r.expectation_config
            failed.append(
                f"table {table}: {config.type} on column {_column(config)} failed ({_severity(config)}): {_observed(r)}"
            )
            if _severity(config) == "critical":
                critical.append(failed[-1])
        outcomes.append(SuiteOutcome(name, table, len(frame), len(expectation_results), tuple(failed), tuple(critical)))
    context.build_data_docs(site_names=[SITE])
    return outcomes


def run_checkpoint(
    warehouse: Warehouse, embedding_dim: int, gx_dir: Path = GX_DIR, outcomes_path: Path | None = None
) -> int:
    """Validate every covered table, one line per suite and one per failed expectation; `embedding_dim` is the
    vector length document_chunks must have. 1 when a critical expectation failed. `outcomes_path`: each suite's
    outcome also written there as JSON (the orchestrator's asset checks read it)."""
    print(f"[quality] warehouse={warehouse} GX={gx_dir}")
    try:
        outcomes = validate(warehouse, embedding_dim, gx_dir)
    except (LandingError, FileNotFoundError) as exc:
        print(f"[quality] error: {exc}", file=sys.stderr)
        return 1
    if outcomes_path is not None:
        outcomes_path.parent.mkdir(parents=True, exist_ok=True)
        outcomes_path.write_text(json.dumps([dataclasses.asdict(outcome) for outcome in outcomes], indent=1))
    for outcome in outcomes:
        print(
            f"[quality] {outcome.status} {outcome.suite} ({outcome.table}, {outcome.rows} rows): "
            f"{outcome.passed}/{outcome.total} expectations passed, "
            f"{len(outcome.critical)} critical failed, {len(outcome.failed) - len(outcome.critical)} warnings"
        )
        for line in outcome.failed:
            print(f"[quality]   {'FAILED' if line in outcome.critical else 'WARNING'} {line}")
    index = gx_dir / "uncommitted" / "data_docs" / SITE / "index.html"
    print(f"[quality] data docs: {index}")
    critical_failures = [line for outcome in outcomes for line in outcome.critical]
    if critical_failures:
        print(f"[quality] checkpoint failed: {len(critical_failures)} critical expectation(s) failed", file=sys.stderr)
        for line in critical_failures:
            print(f"[quality]   {line}", file=sys.stderr)
        return 1
    print("[quality] checkpoint passed")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gx-dir", type=Path, default=GX_DIR, help="the GX project (default: gx/)")
    parser.add_argument("--write-suites", action="store_true", help="regenerate gx/expectations/*.json and exit")
    parser.add_argument("--outcomes", type=Path, help="also write each suite's outcome there, as JSON")
    args = parser.parse_args(argv)
    if args.write_suites:
        for path in write_suites(args.gx_dir):
            print(f"[quality] wrote {path}")
        return 0
    settings = Settings.from_env()
    warehouse = target_warehouse(settings)
    return run_checkpoint(warehouse, embedding_dimension(settings_model(settings)), args.gx_dir, args.outcomes)


if __name__ == "__main__":
    sys.exit(main())
