"""Timed dbt runs: `pipeline.dbt_runner.run_dbt` under a Stopwatch, with dbt's own per-node times.

dbt runs in a subprocess (dbt-duckdb holds its connection for the life of the process, so in-process dbt would
lock the file against the benchmark's own landing and reads). Each run's run_results.json is kept under its
label, since every dbt command overwrites it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from benchmarks.machine import Stopwatch, share
from pipeline.dbt_runner import run_dbt

# The score pipeline and everything downstream of it, seed included: what `dbt build` does when a batch lands.
# Selected explicitly so that other pipelines (the document models, whose raw tables a score-only warehouse
# does not have) neither fail the run nor add to the timings.
SCORE_PIPELINE = "source:raw.score_batches+ known_industries+"


@dataclass(frozen=True)
class DbtRun:
    label: str
    wall: float  # the whole subprocess: interpreter start-up, parsing, execution
    elapsed: float  # dbt's own execution time (run_results.json), without start-up and parsing
    nodes: dict[str, float]  # unique_id -> execution_time
    foreign: float | None  # share of the machine other processes used meanwhile (see Stopwatch)

    @property
    def node_total(self) -> float:
        return sum(self.nodes.values())

    def total_by_kind(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for unique_id, seconds in self.nodes.items():
            kind = unique_id.split(".", 1)[0]
            totals[kind] = totals.get(kind, 0.0) + seconds
        return totals


class Dbt:
    """dbt against one warehouse of one project copy, each command timed and its results kept. The warehouse is a
    DuckDB file's Path, or a Postgres Connection (dbt then runs as `DBT_TARGET=postgres make build` runs it)."""

    def __init__(self, warehouse, target_path: Path, project_dir: Path):
        self.warehouse = warehouse
        self.project_dir = project_dir
        # one target folder per warehouse: partial parsing is reused between runs, as in a long-lived checkout
        self.target_path = target_path
        self.results_path = target_path.parent / "run_results"
        self.results_path.mkdir(parents=True, exist_ok=True)

    def __call__(self, label: str, *args: str) -> DbtRun:
        with Stopwatch() as watch:
            run_dbt(self.warehouse, list(args), target_path=self.target_path, project_dir=self.project_dir)
        kept = self.results_path / f"{label}.json"
        shutil.copyfile(self.target_path / "run_results.json", kept)
        results = json.loads(kept.read_text())
        nodes = {node["unique_id"]: float(node["execution_time"]) for node in results["results"]}
        return DbtRun(label, watch.seconds, float(results["elapsed_time"]), nodes, watch.foreign)

    def compiled_sql(self, model: str) -> str:
        """The SQL of `model` as the last `dbt compile` wrote it, wherever the model sits under models/."""
        found = sorted((self.target_path / "compiled").rglob(f"{model}.sql"))
        if len(found) != 1:
            raise RuntimeError(
                f"expected one compiled {model}.sql under {self.target_path / 'compiled'}, found {found}"
            )
        return found[0].read_text().strip().rstrip(";")


def short_name(unique_id: str) -> str:
    """`test.ml_platform.unique_scores_id.6f0d..` -> `test unique_scores_id` (project and hash dropped)."""
    parts = unique_id.split(".")
    return f"{parts[0]} {parts[2] if len(parts) > 2 else unique_id}"


def describe(run: DbtRun) -> str:
    kinds = ", ".join(f"{kind}s {seconds:.2f}" for kind, seconds in sorted(run.total_by_kind().items()))
    return (
        f"wall {run.wall:6.2f} s | dbt elapsed {run.elapsed:6.2f} s | sum of {len(run.nodes)} nodes "
        f"{run.node_total:6.2f} s ({kinds}) | other processes {share(run.foreign)} of the machine"
    )


def slowest_nodes(small: DbtRun, large: DbtRun, count: int = 5) -> list[tuple[str, float, float]]:
    """The large run's slowest nodes, each with the same node's time in the small run."""
    ranked = sorted(large.nodes.items(), key=lambda item: item[1], reverse=True)[:count]
    return [(unique_id, small.nodes.get(unique_id, float("nan")), seconds) for unique_id, seconds in ranked]
