"""Document ingestion benchmark: `python -m benchmarks.documents [--doc-id 12345] [--naive-texts 200]`.

(a) `python -m ingestion <doc_id>` on DATA_DIR (default: ../shared/data) into a fresh warehouse, under
    `/usr/bin/time -v`: wall time, texts/s, chunks/s, peak RSS (the bar: under 2 GB, the assignment's
    1.5 CPU / 2 GB container).
(b) Cold start: importing sentence-transformers and loading the model, in a fresh process.
(c) The colleague's `predict.py` habits against ours on the first `--naive-texts` texts: the model reloaded for
    every call and one text at a time (in-process, so imports are not even counted against it), versus one
    load and batched encoding. Prints both times and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.machine import describe_machine
from core.settings import PROJECT_ROOT, Settings

DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data"


def full_ingest(doc_id: str, data_dir: Path, workdir: Path) -> dict:
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "DUCKDB_PATH": str(workdir / "warehouse.duckdb"),
        "HF_HUB_OFFLINE": "1",
    }
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "ingestion", doc_id]
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"ingestion failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    text = result.stdout + result.stderr
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", text)
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    chunks = int(re.search(rf"document {doc_id}: (\d+) chunks", text).group(1))
    encoded = re.search(r"encoded (\d+) chunks in ([\d.]+)s", text)
    texts = len(json.loads((data_dir / "documents" / f"texts_{doc_id}.json").read_text()))
    return {
        "texts": texts,
        "chunks": chunks,
        "wall_s": seconds,
        "peak_rss_mb": rss_kb / 1024,
        "texts_per_s": texts / seconds,
        "encoded_chunks": int(encoded.group(1)) if encoded else 0,
        "encode_s": float(encoded.group(2)) if encoded else 0.0,
    }


COLD_START = """
import time
started = time.perf_counter()
from sentence_transformers import SentenceTransformer
imported = time.perf_counter()
from embeddings.model_source import default_model_dir
model = SentenceTransformer(str(default_model_dir()), device="cpu")
loaded = time.perf_counter()
model.encode(["warm-up"])
print(imported - started, loaded - imported, time.perf_counter() - loaded)
"""


def cold_start() -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", COLD_START], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    imported, loaded, first = map(float, out[-3:])
    return {"import_s": imported, "load_s": loaded, "first_encode_s": first}


def naive_vs_batched(doc_id: str, data_dir: Path, n: int, artifacts_dir: Path) -> dict:
    from sentence_transformers import SentenceTransformer

    from embeddings.encoders import encode_texts, load_encoder
    from embeddings.model_source import PACKAGED, default_model_dir, resolve_model

    texts = [t["text"] for t in json.loads((data_dir / "documents" / f"texts_{doc_id}.json").read_text())[:n]]
    model_dir = str(default_model_dir())
    started = time.perf_counter()
    for text in texts:  # predict.py: load the model on every call, encode one text
        SentenceTransformer(model_dir, device="cpu").encode([text])
    naive = time.perf_counter() - started
    spec = resolve_model(PACKAGED, artifacts_dir)
    started = time.perf_counter()
    load_encoder(spec)
    encode_texts(spec, texts, progress=False)
    batched = time.perf_counter() - started
    return {"texts": len(texts), "naive_s": naive, "batched_s": batched, "ratio": naive / batched}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doc-id", default="12345")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--naive-texts", type=int, default=200)
    args = parser.parse_args()
    print(f"machine: {describe_machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-documents-") as workdir:
        full = full_ingest(args.doc_id, args.data_dir, Path(workdir))
    print(
        f"(a) python -m ingestion {args.doc_id}: {full['texts']} texts -> {full['chunks']} chunks in "
        f"{full['wall_s']:.1f}s = {full['texts_per_s']:.1f} texts/s; encoding {full['encoded_chunks']} distinct "
        f"chunks took {full['encode_s']:.1f}s ({full['encoded_chunks'] / max(full['encode_s'], 1e-9):.1f} chunks/s); "
        f"peak RSS {full['peak_rss_mb']:.0f} MB ({'under' if full['peak_rss_mb'] < 2048 else 'OVER'} the 2 GB limit)"
    )
    cold = cold_start()
    print(
        f"(b) cold start: import sentence-transformers {cold['import_s']:.1f}s, load model {cold['load_s']:.2f}s, "
        f"first encode {cold['first_encode_s']:.2f}s"
    )
    naive = naive_vs_batched(args.doc_id, args.data_dir, args.naive_texts, Settings.from_env().artifacts_dir)
    print(
        f"(c) first {naive['texts']} texts: predict.py style (reload per call, one at a time) {naive['naive_s']:.1f}s, "
        f"load once + batched {naive['batched_s']:.1f}s: {naive['ratio']:.1f}x faster"
    )
    print(json.dumps({"full_ingest": full, "cold_start": cold, "naive_vs_batched": naive}))


if __name__ == "__main__":
    main()
