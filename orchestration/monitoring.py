"""Drift and growth where the runs are: after the score models are built, the newest iteration's figures from
`industry_distribution_history` (KS and mean shift per industry, the rows of `scores` and their growth) become
metadata of that asset's materialization: numbers, which the orchestrator's UI plots across materializations, a
table, and `make report`'s drift picture (quality.report) drawn into it.

It reads industry_distribution_history alone (a row per industry and iteration: tens of thousands at 5,000
batches), never percentile_history (tens of millions): this runs after every batch. `make report` draws the rest.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
from dagster import AssetKey, AssetMaterialization, MetadataValue, Output

from quality.report import DRIFT_PNG, Marts, plot_drift
from warehouse import Warehouse
from warehouse.base import default_schema_tables

DRIFT_ASSET = AssetKey("industry_distribution_history")


def newest_iteration_metadata(warehouse: Warehouse, picture_dir: Path) -> dict:
    """The metadata of industry_distribution_history for its newest iteration; {} before the first iteration."""
    with warehouse.open(read_only=True) as con:
        if DRIFT_ASSET.path[-1] not in default_schema_tables(con):
            return {}
        distribution = con.execute("select * from industry_distribution_history order by iteration, industry").df()
    if distribution.empty:
        return {}
    newest = int(distribution["iteration"].max())
    rows = distribution[distribution["iteration"] == newest]
    scores_rows = distribution.groupby("iteration")["scores_rows"].max()
    growth = int(scores_rows.iloc[-1] - scores_rows.iloc[-2]) if len(scores_rows) > 1 else int(scores_rows.iloc[-1])
    table = [
        "| industry | n | mean | KS vs previous | mean shift vs previous | KS vs first |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows.itertuples():
        table.append(
            f"| {row.industry} | {row.n} | {row.mean:.4f} | {_figure(row.ks_vs_previous)} | "
            f"{_figure(row.mean_shift_vs_previous)} | {_figure(row.ks_vs_first)} |"
        )
    picture_dir.mkdir(parents=True, exist_ok=True)
    # the drift picture alone: it reads the table above; the growth of percentile_history is `make report`'s
    picture = plot_drift(Marts(distribution, pd.DataFrame(columns=["iteration", "rows"])), picture_dir / DRIFT_PNG)
    return {
        "iteration": newest,
        "max KS vs previous": _number(rows["ks_vs_previous"].max()),
        "max |mean shift| vs previous": _number(rows["mean_shift_vs_previous"].abs().max()),
        "max KS vs first": _number(rows["ks_vs_first"].max()),
        "scores rows": int(scores_rows.iloc[-1]),
        "scores growth": growth,
        "drift": MetadataValue.md("\n".join(table) + "\n\n" + _inline_png(picture)),
    }


def with_score_metadata(events: Iterable, warehouse: Warehouse, picture_dir: Path) -> Iterator:
    """`events` of a finished dbt build, industry_distribution_history's materialization carrying the figures of
    newest_iteration_metadata (read after dbt exited: the warehouse may have one writer only). A failed build's
    events are passed on as they are, then its failure raised: its failed checks must show."""
    collected, failure = [], None
    try:
        for event in events:
            collected.append(event)
    except Exception as exc:  # dbt failed (stream_or_fail sorted it): what it reported before still counts
        failure = exc
    metadata = None
    for event in collected:
        if failure is None and _asset_key(event) == DRIFT_ASSET:
            if metadata is None:
                metadata = newest_iteration_metadata(warehouse, picture_dir)
            event = event.with_metadata({**(event.metadata or {}), **metadata})
        yield event
    if failure is not None:
        raise failure


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
