"""Fine-tune the platform's embedding model (all-MiniLM-L6-v2) on a dataset version of `training.finetune_data`.

`python -m training.finetune [--dataset DIR] [--max-steps N]` trains with sentence-transformers'
`SentenceTransformerTrainer` and `MultipleNegativesRankingLoss` on the (query, positive, hard negative) triplets of
`ARTIFACTS_DIR/datasets/v<N>/train.jsonl` (default: the latest version), on CPU, and writes
`ARTIFACTS_DIR/models/v<M>/`:

- the saved sentence-transformers model (loadable by `embeddings.model_source.resolve_model(<folder>)`, i.e. usable as
  `EMBEDDING_MODEL=<folder>`), keeping the base model's max_seq_length (256) so the index chunks texts exactly as
  with the base model; training itself truncates at the dataset manifest's `max_seq_length` (a CPU saving: it
  covers 99% of the passages);
- `training.json`: the dataset version, its manifest's sha256 and its corpus version, the hyper-parameters, the
  base model id, steps, wall time, final loss, threads and library versions;
- `training_log.jsonl`: the trainer's log history (loss, learning rate, per logged step).

Every batch holds distinct texts (`BatchSamplers.NO_DUPLICATES`): with in-batch negatives, a query twice in a batch
would make its own positive a negative. The last incomplete batch of a pass is dropped and the sampler draws again,
so every step sees `batch_size` different queries (the dataset has 26 training queries; batch_size must stay
below that). Training stops early, keeping what it learnt, when `time_limit_s` (20 minutes) is reached.

Evaluation against the base model (nDCG@10 on the dataset's validation/test queries over the whole corpus) and the
promotion gate are separate steps: they find the dataset through `training.json` (`dataset.path`, `dataset.version`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from core.files import sha256_file
from core.settings import HUGGING_FACE_DEFAULTS, library_defaults
from training.versions import latest_dataset, publish_version, verify_dataset

log = logging.getLogger(__name__)

DEFAULT_THREADS = 1  # measured on the 2-core box while another job ran: see docs/finetuning.md
TIME_LIMIT_S = 20 * 60
TRAIN_COLUMNS = ("anchor", "positive", "negative")


def _step_callback(limit_s: float | None, started: float):
    """Times every optimiser step and stops training (keeping what it learnt) once `limit_s` has passed."""
    library_defaults(HUGGING_FACE_DEFAULTS)
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self):
            self.step_seconds: list[float] = []
            self.stopped_early = False
            self._step_started = started

        def on_step_begin(self, args, state, control, **kwargs):
            self._step_started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            now = time.perf_counter()
            self.step_seconds.append(round(now - self._step_started, 3))
            if limit_s and now - started > limit_s:
                log.warning("time limit of %.0fs reached at step %d: stopping", limit_s, state.global_step)
                self.stopped_early = True
                control.should_training_stop = True
            return control

    return StepClock()


def train(
    dataset_dir: Path | str,
    artifacts_dir: Path | str,
    epochs: float = 1,
    batch_size: int = 16,
    learning_rate: float = 2e-5,
    max_steps: int | None = None,
    seed: int = 0,
    max_seq_length: int | None = None,
    warmup_fraction: float = 0.1,
    scale: float = 20.0,
    threads: int | None = None,
    time_limit_s: float | None = TIME_LIMIT_S,
    logging_steps: int = 1,
) -> Path:
    """Train from the packaged all-MiniLM-L6-v2 on `dataset_dir`'s triplets; return `artifacts_dir/models/v<N>/`."""
    library_defaults(HUGGING_FACE_DEFAULTS)
    import torch
    from transformers import set_seed

    from embeddings.model_source import PACKAGED, resolve_model

    dataset_dir, artifacts_dir = Path(dataset_dir).resolve(), Path(artifacts_dir)
    manifest = verify_dataset(dataset_dir)  # refuse a dataset whose files changed since it was built
    rows = _read_triplets(dataset_dir, batch_size)
    threads = threads or DEFAULT_THREADS
    torch.set_num_threads(threads)
    set_seed(seed)
    base_spec = resolve_model(PACKAGED, artifacts_dir)  # fine-tuning always starts from the packaged model
    hyper_parameters = dict(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_fraction=warmup_fraction,
        loss_scale=scale,
        scheduler="linear",
        max_steps=max_steps,
        seed=seed,
        train_max_seq_length=int(max_seq_length or manifest["max_seq_length"]["value"]),
    )
    parent = artifacts_dir / "models"
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".training-", dir=parent))
    scratch = Path(tempfile.mkdtemp(prefix=".trainer-", dir=parent))
    try:
        trainer, result, clock, wall_s = _fit(
            staging, scratch, base_spec, rows, hyper_parameters, logging_steps, time_limit_s
        )
        record = _training_record(
            dataset_dir,
            manifest,
            base_spec,
            hyper_parameters,
            len(rows),
            trainer,
            result,
            clock,
            time_limit_s,
            wall_s,
            threads,
        )
        (staging / "training.json").write_text(json.dumps(record, indent=2) + "\n")
        target = publish_version(staging, parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log.info(
        "wrote %s: %d steps in %.0fs (%.2fs/step), final loss %s",
        target,
        record["steps"],
        wall_s,
        record["seconds_per_step"],
        record["final_loss"],
    )
    return target


def _fit(
    staging: Path,
    scratch: Path,
    base_spec,
    rows: list[dict],
    hyper_parameters: dict,
    logging_steps: int,
    time_limit_s: float | None,
):
    """The packaged model trained on `rows` with MultipleNegativesRankingLoss, saved into `staging` with the
    trainer's log; (trainer, its result, the step clock, wall seconds). Records the model's own max_seq_length in
    `hyper_parameters`: it is saved with that one, whatever length it trained at."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = SentenceTransformer(str(base_spec.model_dir), device="cpu")
    hyper_parameters["saved_max_seq_length"] = model.max_seq_length
    model.max_seq_length = hyper_parameters["train_max_seq_length"]
    loss = MultipleNegativesRankingLoss(model, scale=hyper_parameters["loss_scale"])  # 1 / the softmax's temperature
    hp = hyper_parameters
    args = _training_arguments(
        scratch,
        hp["epochs"],
        hp["batch_size"],
        hp["learning_rate"],
        hp["max_steps"],
        hp["warmup_fraction"],
        hp["seed"],
        logging_steps,
    )
    started = time.perf_counter()
    clock = _step_callback(time_limit_s, started)
    train_dataset = Dataset.from_dict({column: [r[column] for r in rows] for column in TRAIN_COLUMNS})
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=train_dataset, loss=loss, callbacks=[clock]
    )
    result = trainer.train()
    wall_s = time.perf_counter() - started
    model.max_seq_length = hyper_parameters["saved_max_seq_length"]
    model.save(str(staging))
    history = trainer.state.log_history
    (staging / "training_log.jsonl").write_text("".join(json.dumps(entry) + "\n" for entry in history))
    return trainer, result, clock, wall_s


def _read_triplets(dataset_dir: Path, batch_size: int) -> list[dict]:
    """train.jsonl's triplets; refused when empty or too few queries for one batch without a repeated query."""
    rows = [json.loads(line) for line in (dataset_dir / "train.jsonl").read_text(encoding="utf-8").split("\n") if line]
    if not rows:
        raise ValueError(f"{dataset_dir / 'train.jsonl'} holds no triplet")
    distinct_queries = len({r["query_id"] for r in rows})
    if batch_size > distinct_queries:
        raise ValueError(
            f"batch_size {batch_size} exceeds the {distinct_queries} distinct training queries: "
            "no batch could avoid repeating a query"
        )
    return rows


def _training_arguments(
    output_dir: Path,
    epochs: float,
    batch_size: int,
    learning_rate: float,
    max_steps: int | None,
    warmup_fraction: float,
    seed: int,
    logging_steps: int,
):
    from sentence_transformers import SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers

    return SentenceTransformerTrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=epochs,
        max_steps=max_steps if max_steps else -1,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=warmup_fraction,  # a float < 1 is a fraction of the steps (transformers 5)
        seed=seed,
        data_seed=seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        dataloader_drop_last=True,
        dataloader_num_workers=0,
        use_cpu=True,
        save_strategy="no",
        eval_strategy="no",
        logging_steps=logging_steps,
        logging_first_step=True,
        report_to="none",
        disable_tqdm=True,
    )


def _training_record(
    dataset_dir: Path,
    manifest: dict,
    base_spec,
    hyper_parameters: dict,
    triplets: int,
    trainer,
    result,
    clock,
    time_limit_s: float | None,
    wall_s: float,
    threads: int,
) -> dict:
    """training.json: what was trained on, how, and how it went."""
    history = trainer.state.log_history
    step_losses = [entry["loss"] for entry in history if "loss" in entry]
    steps = int(trainer.state.global_step)
    return {
        "dataset": {
            "version": dataset_dir.name,
            "path": str(dataset_dir),
            "manifest_sha256": sha256_file(dataset_dir / "manifest.json"),
            "train_sha256": manifest["files"]["train.jsonl"]["sha256"],
            "corpus": manifest["source"]["corpus"],
            "corpus_version": manifest["source"]["landed"]["content_hash"],
            "validation_query_ids": manifest["split"]["query_ids"]["validation"],
            "test_query_ids": manifest["split"]["query_ids"]["test"],
        },
        "base_model": {"id": base_spec.model_id, "path": str(base_spec.model_dir)},
        "loss": f"MultipleNegativesRankingLoss(scale={hyper_parameters['loss_scale']:g}, cos_sim) with one hard "
        "negative per triplet",
        "batch_sampler": "NO_DUPLICATES, drop_last",
        "hyper_parameters": hyper_parameters,
        "steps": steps,
        "triplets": triplets,
        "samples_seen": steps * hyper_parameters["batch_size"],
        "stopped_by_time_limit": clock.stopped_early,
        "time_limit_s": time_limit_s,
        "wall_time_s": round(wall_s, 1),
        "seconds_per_step": round(wall_s / max(steps, 1), 2),  # includes the trainer's start-up
        "step_seconds_median": round(statistics.median(clock.step_seconds), 2) if clock.step_seconds else None,
        "step_seconds": clock.step_seconds,
        "final_loss": step_losses[-1] if step_losses else None,
        "mean_train_loss": float(result.training_loss),
        "first_loss": step_losses[0] if step_losses else None,
        "torch_threads": threads,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "libraries": {
            name: version(name) for name in ("sentence-transformers", "transformers", "torch", "datasets", "tokenizers")
        },
    }


def main(argv: list[str] | None = None) -> int:
    from core.settings import Settings

    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=None, help="a dataset version folder (default: the latest)")
    parser.add_argument("--artifacts-dir", type=Path, default=settings.artifacts_dir)
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=2e-5)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=20.0, help="MultipleNegativesRankingLoss scale (1/temperature)")
    parser.add_argument("--max-seq-length", type=int, default=None, help="default: the dataset manifest's choice")
    parser.add_argument("--threads", type=int, default=None, help=f"torch threads (default {DEFAULT_THREADS})")
    parser.add_argument("--time-limit", type=float, default=TIME_LIMIT_S, help="seconds; stop training after it")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    dataset = args.dataset or latest_dataset(args.artifacts_dir)
    folder = train(
        dataset,
        args.artifacts_dir,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        max_steps=args.max_steps,
        seed=args.seed,
        max_seq_length=args.max_seq_length,
        scale=args.scale,
        threads=args.threads,
        time_limit_s=args.time_limit,
    )
    record = json.loads((folder / "training.json").read_text())
    print(folder)
    print(
        json.dumps(
            {k: record[k] for k in ("steps", "wall_time_s", "seconds_per_step", "final_loss", "mean_train_loss")}
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
