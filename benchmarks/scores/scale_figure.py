"""The picture of the score pipeline at scale (benchmarks.scores.scale): full rebuild throughput, peak memory and
one new batch's cost against history, one line per engine (and the pandas loop beside DuckDB's rebuild)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

ENGINE_NAMES = {"duckdb": "DuckDB", "postgres": "Postgres", "spark": "Spark (local[*], 2 cores)"}


def draw(results: list[dict], path: Path) -> None:
    figure = Figure(figsize=(15, 4.2))
    rate, memory, new = figure.subplots(1, 3)
    for target, name in ENGINE_NAMES.items():
        rows = sorted((r for r in results if r["target"] == target), key=lambda r: r["batches"])
        if not rows:
            continue
        batches = [r["batches"] for r in rows]
        line = rate.plot(batches, [r["rows"] / r["full"]["wall"] for r in rows], marker="o", label=name)[0]
        memory.plot(batches, [r["full"]["peak_gib"] for r in rows], marker="o", color=line.get_color(), label=name)
        new.plot(batches, [r["new"]["wall"] for r in rows], marker="o", color=line.get_color(), label=name)
        looped = [r for r in rows if "pandas" in r]
        if looped:
            xs = [r["batches"] for r in looped]
            rate.plot(xs, [r["rows"] / r["pandas"]["wall"] for r in looped], "k--", marker="x", label="pandas loop")
            memory.plot(xs, [r["pandas"]["peak_gib"] for r in looped], "k--", marker="x", label="pandas loop")
    rate.set(title="full rebuild: raw rows/s", xlabel="batches of history (10,000 rows each)")
    memory.set(title="full rebuild: peak memory (GiB)", xlabel="batches of history")
    new.set(title="one new batch: seconds, whole build", xlabel="batches of history")
    for axes in (rate, memory, new):
        axes.set_xscale("log")
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, metadata={"Software": None})
