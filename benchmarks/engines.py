"""The engines at scale: `python -m benchmarks.engines scores|embedding` (`make bench-engines`).

`scores [--sizes 100 1000 5000] [--rows 10000] [--targets duckdb postgres spark] [--pandas]`: the score pipeline's
full rebuild and one new batch on each engine as history grows (benchmarks.scores.scale says how). Prints the
table, keeps every run's figures in docs/figures/score_pipeline_at_scale.json (by engine and size: a run of one
engine or one size replaces only its own) and draws them all into the .png beside it.

`embedding [--texts 2000]`: texts of the real document 12345 (the first --texts) encoded by EMBEDDING_BACKEND in
process (encode_texts: every core) and on a local Spark session's executors with `local[1]` and `local[2]`
(encode_on_executors: one thread per task), each in a fresh process after a warm-up call (model loading not
timed), in texts/s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.machine import describe_machine
from benchmarks.scores import log
from benchmarks.scores.scale import TARGETS, bench_scale
from benchmarks.scores.scale_figure import draw
from core.settings import PROJECT_ROOT

FIGURES = PROJECT_ROOT / "docs" / "figures"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engines", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="job", required=True)
    scores = sub.add_parser("scores")
    scores.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    scores.add_argument("--rows", type=int, default=10_000)
    scores.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    scores.add_argument("--pandas", action="store_true", help="DuckDB's rebuild beside the pandas loop and its write")
    scores.add_argument("--workdir", type=Path)
    scores.add_argument(
        "--results",
        type=Path,
        default=FIGURES / "score_pipeline_at_scale.json",
        help="the figures of earlier runs, kept by (target, batches): this run's replace theirs, the picture "
        "shows them all",
    )
    embedding = sub.add_parser("embedding")
    embedding.add_argument("--texts", type=int, default=2000)
    args = parser.parse_args(argv)
    log(describe_machine())
    if args.job == "embedding":
        return bench_embedding(args.texts)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_engines_"))
    try:
        results = bench_scale(sorted(args.sizes), args.rows, args.targets, workdir, pandas=args.pandas)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(results))
    kept = json.loads(args.results.read_text()) if args.results.is_file() else []
    measured = {(r["target"], r["batches"]) for r in results}
    kept = [r for r in kept if (r["target"], r["batches"]) not in measured] + results
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(kept, indent=1) + "\n")
    draw(kept, args.results.with_suffix(".png"))
    log(f"all figures in {args.results}, drawn in {args.results.with_suffix('.png')}")
    return 0


def table(results: list[dict]) -> str:
    lines = [
        "| engine | batches | raw rows | full rebuild (s) | rows/s | peak memory (GiB) | one new batch (s) "
        "| peak (GiB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        full, new = r["full"], r["new"]
        lines.append(
            f"| {r['target']} | {r['batches']:,} | {r['rows']:,} | {full['wall']:.1f} | "
            f"{r['rows'] / full['wall']:,.0f} | {full['peak_gib']:.2f} | {new['wall']:.1f} | {new['peak_gib']:.2f} |"
        )
        if "pandas" in r:
            loop = r["pandas"]
            lines.append(
                f"| pandas loop + write | {r['batches']:,} | {r['rows']:,} | {loop['wall']:.1f} | "
                f"{r['rows'] / loop['wall']:,.0f} | {loop['peak_gib']:.2f} | | |"
            )
    return "\n" + "\n".join(lines)


EMBED_SCRIPT = """
import sys, time
from pathlib import Path
from embeddings.encoders import encode_texts, load_encoder
from core.settings import Settings
from embeddings.model_source import settings_model
import duckdb

spec = settings_model(Settings.from_env())
texts = [row[0] for row in duckdb.sql(
    "select text from read_json_auto(?) limit ?", params=[sys.argv[2], int(sys.argv[3])]).fetchall()]
mode = sys.argv[1]
if mode == "in-process":
    load_encoder(spec); encode_texts(spec, texts[:32], progress=False)
    started = time.perf_counter(); encode_texts(spec, texts, progress=False)
else:
    from warehouse.spark import SparkWarehouse, start_session
    from pipeline.spark_dbt import encode_on_executors
    spark = start_session(SparkWarehouse(Path(sys.argv[4]), master=mode))
    encode_on_executors(spark, spec, texts[:64])  # the executors' Python workers load the model once
    started = time.perf_counter(); encode_on_executors(spark, spec, texts)
print("RESULT", len(texts), time.perf_counter() - started)
"""


def bench_embedding(count: int) -> int:
    texts_file = PROJECT_ROOT.parent / "shared" / "data" / "documents" / "texts_12345.json"
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for mode in ("in-process", "local[1]", "local[2]"):
            result = subprocess.run(
                [sys.executable, "-c", EMBED_SCRIPT, mode, str(texts_file), str(count), str(Path(scratch) / mode)],
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
                env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
            )
            line = next((line for line in result.stdout.splitlines() if line.startswith("RESULT")), None)
            if result.returncode or line is None:
                print(result.stdout[-2000:], result.stderr[-2000:], file=sys.stderr)
                return 1
            _, n, seconds = line.split()
            rows.append((mode, int(n), float(seconds)))
            log(f"{mode}: {int(n)} texts in {float(seconds):.1f} s ({int(n) / float(seconds):.1f} texts/s)")
    print("\n| where | texts | seconds | texts/s |\n|---|---|---|---|")
    for mode, n, seconds in rows:
        print(f"| {mode} | {n} | {seconds:.1f} | {n / seconds:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
