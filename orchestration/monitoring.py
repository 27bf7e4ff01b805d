"""Drift and growth where the runs are: after the score models are built, the newest iteration's figures from
`industry_distribution_history` (KS and mean shift per industry, the rows of `scores`) become metadata of that
asset's materialization (numbers, which the orchestrator's UI plots across materializations, and a table), with
`make report`'s drift and growth pictures (quality.report) drawn into it."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from pathlib import Path

from dagster import AssetKey, AssetMaterialization, MetadataValue, Output

from quality.report import DRIFT_PNG, GROWTH_PNG, MartsMissing, load_marts, write_report
from warehouse import Warehouse

DRIFT_ASSET = AssetKey("industry_distribution_history")


def newest_iteration_metadata(warehouse: Warehouse, report_dir: Path) -> dict:
    """The metadata of industry_distribution_history for its newest iteration; {} before the first iteration."""
    try:
        marts = load_marts(warehouse)
    except MartsMissing:
        return {}
    written = write_report(warehouse, report_dir)
    newest = marts.iterations[-1]
    rows = marts.distribution[marts.distribution["iteration"] == newest]
    table = [
        "| industry | n | mean | KS vs previous | mean shift vs previous | KS vs first |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows.itertuples():
        table.append(
            f"| {row.industry} | {row.n} | {row.mean:.4f} | {_figure(row.ks_vs_previous)} | "
            f"{_figure(row.mean_shift_vs_previous)} | {_figure(row.ks_vs_first)} |"
        )
    pictures = "\n\n".join(_inline_png(path) for path in written if path.name in (DRIFT_PNG, GROWTH_PNG))
    return {
        "iteration": int(newest),
        "max KS vs previous": _number(rows["ks_vs_previous"].max()),
        "max |mean shift| vs previous": _number(rows["mean_shift_vs_previous"].abs().max()),
        "max KS vs first": _number(rows["ks_vs_first"].max()),
        "scores rows": int(rows["scores_rows"].max()),
        "drift": MetadataValue.md("\n".join(table) + "\n\n" + pictures),
        "report": MetadataValue.path(str(report_dir)),
    }


def with_score_metadata(events: Iterable, warehouse: Warehouse, report_dir: Path) -> Iterator:
    """`events` of a finished dbt build, industry_distribution_history's materialization carrying the figures of
    newest_iteration_metadata (read after dbt exited: the warehouse may have one writer only)."""
    events = list(events)
    metadata = None
    for event in events:
        if _asset_key(event) == DRIFT_ASSET:
            if metadata is None:
                metadata = newest_iteration_metadata(warehouse, report_dir)
            event = event.with_metadata({**(event.metadata or {}), **metadata})
        yield event


def _asset_key(event) -> AssetKey | None:
    if isinstance(event, AssetMaterialization):
        return event.asset_key
    if isinstance(event, Output):
        return AssetKey(event.output_name)  # dagster-dbt names each output after its asset key
    return None


def _number(value) -> float:
    return float(value) if value == value else float("nan")  # NaN on the first iteration (no previous window)


def _figure(value) -> str:
    return "n/a" if value != value or value is None else f"{value:.4f}"


def _inline_png(path: Path) -> str:
    return f"![{path.stem}](data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()})"
