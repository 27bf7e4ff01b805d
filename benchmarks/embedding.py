"""The dbt embedding node against the library default: `python -m benchmarks.embedding [--passages 3000]
[--backends onnx-int8 onnx torch]` (`make bench-embedding`).

Side by side in one run, on the first --passages passages of the real MS MARCO corpus
(../shared/data/retrieval/msmarco-trec-dl/corpus.jsonl):
- the library default: in a fresh process, `SentenceTransformer(<packaged model>).encode(texts, batch_size=32)`
  on the passages' texts (loading the model is timed apart and not counted: the comparison is kind to it);
- per backend (EMBEDDING_BACKEND): the passages landed as a corpus; on a copy of that warehouse per backend
  `dbt run --select +int_text_chunks` (the chunks carry the model id, backend included), then
  `dbt run --select int_text_embeddings`, and the node's time from run_results.json (dbt's node time: reading the
  chunks, loading the model, encoding, writing the vectors). An ONNX backend's graph is exported beforehand (once
  per model files, a cached artifact): its time is printed apart. Each line says how much of the machine other
  processes took meanwhile.

`--quality`: the retrieval quality each backend gives, on the whole real corpus (30,005 passages) and its judged
DL19 queries: the corpus landed and chunked as `make run` chunks it, every chunk encoded by each backend (cached
under ARTIFACTS_DIR/eval_cache), dense search as the promotion gate runs it (training.corpus_search), and per
backend nDCG@10, MRR@10 and recall@100 with their 95% bootstrap intervals and the paired difference to the first
backend given (`--quality --backends torch onnx-int8`, or `onnx onnx-int8`: onnx is torch's vectors, faster).
Without --backends, --quality compares the default backend (DEFAULT_BACKEND) with the float graph (onnx).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.machine import Stopwatch, describe_machine, share
from benchmarks.scores import log
from benchmarks.scores.dbt_timing import Dbt
from core.settings import BACKENDS, DEFAULT_BACKEND, PROJECT_ROOT, Settings
from embeddings.encoders import prepare_model
from embeddings.model_source import PACKAGED, resolve_model
from landing.land import land_all
from warehouse import DuckDBWarehouse

CORPUS = PROJECT_ROOT.parent / "shared" / "data" / "retrieval" / "msmarco-trec-dl" / "corpus.jsonl"

LIBRARY_DEFAULT = """
import json, sys, time
started = time.perf_counter()
from sentence_transformers import SentenceTransformer
from embeddings.model_source import default_model_dir
model = SentenceTransformer(str(default_model_dir()), device="cpu")
loaded = time.perf_counter() - started
texts = [json.loads(line)["text"] for line in open(sys.argv[1], encoding="utf-8")]
started = time.perf_counter()
model.encode(texts, batch_size=32)
print("RESULT", len(texts), loaded, time.perf_counter() - started)
"""


def library_default(corpus: Path) -> tuple[int, float, float]:
    result = subprocess.run(
        [sys.executable, "-c", LIBRARY_DEFAULT, str(corpus)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    line = next((line for line in result.stdout.splitlines() if line.startswith("RESULT")), None)
    if result.returncode or line is None:
        raise SystemExit(f"the library default failed:\n{result.stderr[-3000:]}")
    _, texts, loaded, seconds = line.split()
    return int(texts), float(loaded), float(seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.embedding", description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=3000)
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=BACKENDS,
        help="default: every backend; with --quality, the float graph and the default backend",
    )
    parser.add_argument("--quality", action="store_true", help="retrieval quality per backend on the whole corpus")
    args = parser.parse_args(argv)
    log(describe_machine())
    if args.quality:
        # the float graph first: it is the reference the paired differences are taken to
        return quality(args.backends or list(dict.fromkeys(("onnx", DEFAULT_BACKEND))))
    return speed(args.passages, args.backends or list(BACKENDS))


def speed(passages: int, backends: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="bench_embedding_") as scratch:
        workdir = Path(scratch)
        folder = workdir / "data" / "retrieval" / f"msmarco{passages}"
        folder.mkdir(parents=True)
        with CORPUS.open(encoding="utf-8") as source:
            lines = [line for _, line in zip(range(passages), source)]
        (folder / "corpus.jsonl").write_text("".join(lines), encoding="utf-8")
        artifacts = workdir / "artifacts"
        os.environ["ARTIFACTS_DIR"] = str(artifacts)  # the dbt runs' exported graphs, never the checkout's

        landed = DuckDBWarehouse(workdir / "landed.duckdb")
        land_all(workdir / "data", landed)

        rows = []
        with Stopwatch() as watch:
            texts, loaded, seconds = library_default(folder / "corpus.jsonl")
        log(
            f"library default: {texts} texts in {seconds:.1f} s ({texts / seconds:.1f} texts/s; model load "
            f"{loaded:.1f} s not counted), other processes {share(watch.foreign)} of the machine"
        )
        rows.append(("SentenceTransformer.encode(batch_size=32)", texts, seconds, 1.0))
        baseline = seconds

        for backend in backends:
            spec = resolve_model(PACKAGED, artifacts, backend)
            started = time.perf_counter()
            prepare_model(spec)
            if spec.graph_path:
                log(f"{backend}: exported in {time.perf_counter() - started:.1f} s (once per model files)")
            warehouse = DuckDBWarehouse(workdir / f"{backend}.duckdb")
            shutil.copyfile(landed, warehouse)
            dbt = Dbt(warehouse, workdir / "target", PROJECT_ROOT)
            os.environ["EMBEDDING_BACKEND"] = backend
            dbt(f"{backend}-chunks", "run", "--select", "+int_text_chunks")  # chunks are keyed by the model id too
            run = dbt(backend, "run", "--select", "int_text_embeddings")
            node = next(
                seconds for unique_id, seconds in run.nodes.items() if unique_id.endswith(".int_text_embeddings")
            )
            encoded = json.loads(
                subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        "import duckdb, sys, json; print(json.dumps(duckdb.connect(sys.argv[1], "
                        "read_only=True).sql('select count(*) from int_text_embeddings').fetchone()[0]))",
                        str(warehouse),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            log(
                f"{backend}: int_text_embeddings node {node:.1f} s for {encoded} chunks ({encoded / node:.1f} "
                f"chunks/s), {baseline / node:.2f}x the library default; other processes {share(run.foreign)}"
            )
            rows.append((f"dbt node int_text_embeddings, EMBEDDING_BACKEND={backend}", encoded, node, baseline / node))

    print("\n| what | texts | seconds | texts/s | speed-up |\n|---|---|---|---|---|")
    for what, count, seconds, ratio in rows:
        print(f"| {what} | {count:,} | {seconds:.1f} | {count / seconds:.1f} | {ratio:.2f}x |")
    return 0


def quality(backends: list[str]) -> int:
    from search.evaluation import evaluate_run, paired_difference
    from training.corpus_search import chunk_vectors, read_corpus_chunks, search_run
    from training.judged_corpus import read_judged_corpus

    artifacts = Settings.from_env().artifacts_dir
    reference = backends[0]  # a float backend: torch, or onnx (the same vectors to cosine 0.99999, 1.5x faster)
    with tempfile.TemporaryDirectory(prefix="bench_embedding_quality_") as scratch:
        workdir = Path(scratch)
        (workdir / "data" / "retrieval").mkdir(parents=True)
        (workdir / "data" / "retrieval" / CORPUS.parent.name).symlink_to(CORPUS.parent)
        warehouse = DuckDBWarehouse(workdir / "warehouse.duckdb")
        land_all(workdir / "data", warehouse)
        # the chunks as the index cuts them; their stored vectors are hashing ones, so every backend encodes
        os.environ["EMBEDDING_MODEL"] = "hashing:384"
        Dbt(warehouse, workdir / "target", PROJECT_ROOT)(
            "chunks", "run", "--select", "+search_chunks", "+corpus_queries", "+corpus_qrels"
        )
        del os.environ["EMBEDDING_MODEL"]
        corpus = read_judged_corpus(warehouse, CORPUS.parent.name)
        chunks = read_corpus_chunks(warehouse, corpus.name, corpus.version)
        metrics = {}
        for backend in backends:
            spec = resolve_model(PACKAGED, artifacts, backend)
            started = time.perf_counter()
            vectors = chunk_vectors(spec, chunks, artifacts / "eval_cache")
            metrics[backend] = evaluate_run(corpus.qrels, search_run(spec, chunks, vectors, corpus.queries))
            log(
                f"{backend}: {len(chunks.texts):,} chunks, nDCG@10 {metrics[backend]['ndcg@10'].mean:.4f} "
                f"({time.perf_counter() - started:.0f} s)"
            )
    print(
        f"\n{corpus.name}: {len(chunks.texts):,} chunks, {len(metrics[reference]['ndcg@10'].per_query)} judged "
        f"queries; mean [95% bootstrap interval]; difference: paired, to {reference}\n"
    )
    print(f"| backend | nDCG@10 | MRR@10 | recall@100 | nDCG@10 - {reference} |\n|---|---|---|---|---|")
    for backend, result in metrics.items():
        cells = [
            f"{result[m].mean:.4f} [{result[m].ci_low:.3f}, {result[m].ci_high:.3f}]"
            for m in ("ndcg@10", "mrr@10", "recall@100")
        ]
        gap = paired_difference(result["ndcg@10"], metrics[reference]["ndcg@10"])
        print(f"| {backend} | {' | '.join(cells)} | {gap.mean:+.4f} [{gap.ci_low:+.4f}, {gap.ci_high:+.4f}] |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
