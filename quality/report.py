"""Monitoring report of the score marts: `python -m quality.report [--output-dir DIR]` (DBT_TARGET's warehouse).

Writes three PNG plots and `report.md` (which embeds them by relative path) to OUTPUT_DIR/report by default:

- `distribution_by_industry.png`: each industry's window mean with its p05..p95 and p25..p75 bands over
  iterations, so a drifting distribution shows as a moving band, not only a moving mean.
- `drift_ks.png`: the KS statistic against the previous window (sudden changes) and against the first window
  (accumulated drift), per industry.
- `row_growth.png`: rows of `scores` after each iteration and rows `percentile_history` gained per iteration,
  so storage growth is visible before it becomes a problem.

It reads the marts only (`industry_distribution_history`, `percentile_history`, `scores`) through a short-lived
read-only connection, so it can run beside a build and never holds the writer lock. File names are fixed, so
a rerun overwrites the previous report instead of piling up new ones. Exit 1, with the reason, when the marts
are missing or empty (nothing built yet, or fewer batches than one window).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure  # no pyplot: nothing global (a backend, a figure registry) is touched
from matplotlib.ticker import MaxNLocator

from core.settings import Settings
from warehouse import LandingError, Warehouse, target_warehouse
from warehouse.base import default_schema_tables

MARTS = ("industry_distribution_history", "percentile_history", "scores")
DISTRIBUTION_PNG = "distribution_by_industry.png"
DRIFT_PNG = "drift_ks.png"
GROWTH_PNG = "row_growth.png"
REPORT_MD = "report.md"
DPI = 100
# PNG metadata pinned: the same marts give the same bytes (no matplotlib version stamped in).
PNG_METADATA = {"Software": None}


class MartsMissing(RuntimeError):
    """The marts the report reads are not built, or hold no iteration yet; the message says which."""


@dataclass(frozen=True)
class Marts:
    distribution: pd.DataFrame  # industry_distribution_history, ordered by iteration, industry
    history_rows: pd.DataFrame  # iteration, rows: percentile_history rows per iteration

    @property
    def industries(self) -> list[str]:
        return sorted(self.distribution["industry"].unique())

    @property
    def iterations(self) -> list[int]:
        return sorted(int(i) for i in self.distribution["iteration"].unique())


def load_marts(warehouse: Warehouse) -> Marts:
    try:
        warehouse.require_built()
    except LandingError as exc:
        raise MartsMissing(str(exc)) from None
    with warehouse.open(read_only=True) as con:
        existing = default_schema_tables(con)
        missing = [mart for mart in MARTS if mart not in existing]
        if missing:
            raise MartsMissing(f"marts not built in {warehouse}: {', '.join(missing)} (run `make build`)")
        distribution = con.execute("select * from industry_distribution_history order by iteration, industry").df()
        history_rows = con.execute(
            "select iteration, count(*) as rows from percentile_history group by iteration order by iteration"
        ).df()
    if distribution.empty:
        raise MartsMissing(
            f"industry_distribution_history is empty in {warehouse}: no iteration yet (a window needs 3 landed batches)"
        )
    return Marts(distribution, history_rows)


def _grid(count: int) -> tuple[int, int]:
    cols = 1 if count == 1 else 2
    return (count + cols - 1) // cols, cols


def _plot_per_industry(
    marts: Marts,
    path: Path,
    title: str,
    ylabel: str,
    legend_loc: str,
    draw: Callable[[Axes, pd.DataFrame], None],
) -> Path:
    """One panel per industry, each drawn by `draw` from that industry's rows, labelled and saved alike."""
    industries = marts.industries
    rows, cols = _grid(len(industries))
    fig = Figure(figsize=(6 * cols, 3.6 * rows))
    axes = fig.subplots(rows, cols, sharex=True, squeeze=False)
    fig.suptitle(title)
    flat = list(axes.flat)
    for extra in flat[len(industries) :]:
        extra.set_visible(False)
    for industry, ax in zip(industries, flat):
        draw(ax, marts.distribution[marts.distribution["industry"] == industry])
        ax.set_title(industry)
        ax.set_xlabel("iteration")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc=legend_loc)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    for ax in fig.axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # iterations are whole numbers
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, metadata=PNG_METADATA)
    return path


def plot_distribution(marts: Marts, path: Path) -> Path:
    def draw(ax: Axes, d: pd.DataFrame) -> None:
        ax.fill_between(d["iteration"], d["p05"], d["p95"], alpha=0.2, color="tab:blue", label="p05..p95")
        ax.fill_between(d["iteration"], d["p25"], d["p75"], alpha=0.35, color="tab:blue", label="p25..p75")
        ax.plot(d["iteration"], d["mean"], color="tab:red", marker=".", label="mean")
        ax.plot(d["iteration"], d["p50"], color="black", linestyle="--", linewidth=0.8, label="median")

    return _plot_per_industry(marts, path, "Window score distribution per industry", "score", "best", draw)


def plot_drift(marts: Marts, path: Path) -> Path:
    top = max(float(marts.distribution[["ks_vs_previous", "ks_vs_first"]].max().max()), 0.05) * 1.1

    def draw(ax: Axes, d: pd.DataFrame) -> None:
        ax.plot(d["iteration"], d["ks_vs_previous"], marker=".", label="KS vs previous window")
        ax.plot(d["iteration"], d["ks_vs_first"], marker=".", label="KS vs first window")
        ax.set_ylim(0, top)  # one scale for every industry, so their drifts compare at a glance

    return _plot_per_industry(marts, path, "Kolmogorov-Smirnov drift per industry", "KS statistic", "upper left", draw)


def scores_rows(marts: Marts) -> pd.DataFrame:
    """scores_rows per iteration (the same value on every industry's row of an iteration)."""
    return marts.distribution.groupby("iteration", as_index=False)["scores_rows"].max().sort_values("iteration")


def plot_growth(marts: Marts, path: Path) -> Path:
    rows = scores_rows(marts)
    fig = Figure(figsize=(9, 7))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(rows["iteration"], rows["scores_rows"], marker="o")
    top.set_title("Rows in `scores` after each iteration")
    top.set_ylabel("rows")
    top.grid(alpha=0.3)
    bottom.bar(marts.history_rows["iteration"], marts.history_rows["rows"], color="tab:green")
    bottom.set_title("Rows added to `percentile_history` per iteration")
    bottom.set_xlabel("iteration")
    bottom.set_ylabel("rows")
    bottom.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def _number(value) -> str:
    return "n/a" if pd.isna(value) else f"{value:.4f}"


def render_markdown(marts: Marts, warehouse: Warehouse) -> str:
    d = marts.distribution
    first, last = marts.iterations[0], marts.iterations[-1]
    rows = scores_rows(marts)
    history = dict(zip(marts.history_rows["iteration"], marts.history_rows["rows"]))
    last_rows = int(rows["scores_rows"].iloc[-1])
    span = len(rows) - 1
    mean_growth = (last_rows - int(rows["scores_rows"].iloc[0])) / span if span else 0.0

    lines = [
        "# Score monitoring report",
        "",
        f"Warehouse `{warehouse}`: iterations {first}..{last} ({len(marts.iterations)} iterations), "
        f"industries: {', '.join(marts.industries)}.",
        "",
        "## Distribution per industry",
        "",
        f"![Window mean and p05..p95 / p25..p75 bands per industry]({DISTRIBUTION_PNG})",
        "",
        f"| industry | mean at iteration {first} | mean at iteration {last} | total drift (mean shift vs first) "
        f"| KS vs first at {last} | max KS vs previous | at iteration |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for industry in marts.industries:
        i = d[d["industry"] == industry].sort_values("iteration")
        head, tail = i.iloc[0], i.iloc[-1]
        ks = i.dropna(subset=["ks_vs_previous"])
        if ks.empty:
            ks_max, ks_at = float("nan"), "n/a"
        else:
            peak = ks.loc[ks["ks_vs_previous"].idxmax()]
            ks_max, ks_at = peak["ks_vs_previous"], str(int(peak["iteration"]))
        first_note = "" if int(head["iteration"]) == first else f" (first seen at {int(head['iteration'])})"
        lines.append(
            f"| {industry} | {_number(head['mean'])}{first_note} | {_number(tail['mean'])} "
            f"| {_number(tail['mean_shift_vs_first'])} | {_number(tail['ks_vs_first'])} "
            f"| {_number(ks_max)} | {ks_at} |"
        )
    lines += [
        "",
        "## Drift",
        "",
        f"![KS statistic vs previous and vs first window per industry]({DRIFT_PNG})",
        "",
        "## Row growth",
        "",
        f"![Rows of scores and percentile_history per iteration]({GROWTH_PNG})",
        "",
        f"At iteration {last}: `scores` has {last_rows} rows, `percentile_history` gained "
        f"{int(history.get(last, 0))} rows ({int(sum(history.values()))} in total). "
        f"`scores` grew by {mean_growth:.1f} rows per iteration on average.",
        "",
        "| iteration | scores_rows | growth | percentile_history rows |",
        "|---:|---:|---:|---:|",
    ]
    previous = None
    for iteration, count in zip(rows["iteration"], rows["scores_rows"]):
        growth = "" if previous is None else f"{int(count) - previous:+d}"
        lines.append(f"| {int(iteration)} | {int(count)} | {growth} | {int(history.get(iteration, 0))} |")
        previous = int(count)
    return "\n".join(lines) + "\n"


def write_report(warehouse: Warehouse, output_dir: Path) -> list[Path]:
    """Write the three PNGs and report.md; return their paths (PNGs first)."""
    marts = load_marts(warehouse)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = [
        plot_distribution(marts, output_dir / DISTRIBUTION_PNG),
        plot_drift(marts, output_dir / DRIFT_PNG),
        plot_growth(marts, output_dir / GROWTH_PNG),
    ]
    report = output_dir / REPORT_MD
    report.write_text(render_markdown(marts, warehouse))
    written.append(report)
    return written


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=settings.output_dir / "report")
    args = parser.parse_args(argv)
    try:
        written = write_report(target_warehouse(settings), args.output_dir)
    except (MartsMissing, LandingError) as exc:
        print(f"[report] error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"[report] wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
