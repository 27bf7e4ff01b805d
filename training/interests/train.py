"""One training run: split the active users, fit the net, calibrate it on other users, score it and two baselines
(per-type popularity, title/label cosine) on held-out users, write the artifact.

Titles are never encoded here: their vectors come from the warehouse (`int_text_embeddings`, built by dbt). Only the
interest labels are encoded, for the cosine baseline; nothing else encodes them.
"""

from __future__ import annotations

import hashlib
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from embeddings.encoders import encode_texts
from embeddings.model_source import ModelSpec
from training.interests.artifacts import artifact_version, save_artifact
from training.interests.data import InterestData, InterestDataError, load_training_data
from training.interests.features import user_features
from training.interests.metrics import TOP_K, evaluate
from training.interests.model import InterestModel, build_net, fit_platt, prevalence_by_type, sigmoid
from warehouse import Warehouse


@dataclass(frozen=True)
class TrainConfig:
    # Linear vs one hidden layer, measured on the sample (Platt fitted on half the calibration users, scored on
    # the other half, mean of 5 seeds; standardised inputs for both): linear precision@10 0.195, log loss 0.0235,
    # Brier 0.00473; MLP(256) 0.151 / 0.0307 / 0.00566; MLP(256) stopped at 20 epochs 0.163 / 0.0274; MLP(256)
    # with weight decay 1e-3 0.122. Half the interests have <= 4 training positives: the hidden layer overfits
    # them, so linear it is. Standardising the inputs mattered most: unstandardised, linear gets 0.129 (mean
    # title vectors all point roughly the same way; what tells users apart are small per-dimension deviations).
    hidden: int = 0  # 0: linear; >0: one ReLU hidden layer of that width
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 0.01
    weight_decay: float = 1e-5
    seed: int = 0
    split: tuple[int, int, int] = (60, 20, 20)  # train / calibration / test percent, by hash of the handle
    features: str = "mean-title-vector+type-onehot/v1"


@contextmanager
def torch_threads(n: int):
    """Run torch ops on n threads. One by default: on this 2-core box shared with CI, two intra-op threads made
    encoding 5x and training 17x slower than one (they spin waiting for each other)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def split_of(handle: str, split: tuple[int, int, int] = TrainConfig.split) -> str:
    """'train' / 'calibration' / 'test' from a hash of the handle: stable across runs, machines and data order."""
    bucket = int(hashlib.sha256(handle.encode()).hexdigest()[:8], 16) % sum(split)
    return "train" if bucket < split[0] else "calibration" if bucket < split[0] + split[1] else "test"


def train_net(features: np.ndarray, targets: np.ndarray, config: TrainConfig, echo: Callable[[str], None] = print):
    """Minibatch Adam on BCEWithLogits; seeded, fixed user order and a seeded shuffle, so reruns match."""
    torch.manual_seed(config.seed)
    net = build_net(features.shape[1], targets.shape[1], config.hidden)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    x, y = torch.from_numpy(features.astype(np.float32)), torch.from_numpy(targets.astype(np.float32))
    net[0].fit(x)
    generator = torch.Generator().manual_seed(config.seed)
    net.train()
    for epoch in range(1, config.epochs + 1):
        order, total = torch.randperm(len(x), generator=generator), 0.0
        for start in range(0, len(x), config.batch_size):
            batch = order[start : start + config.batch_size]
            optimiser.zero_grad()
            loss = loss_fn(net(x[batch]), y[batch])
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        if epoch == 1 or epoch % 10 == 0 or epoch == config.epochs:
            echo(f"  epoch {epoch:3d}/{config.epochs}: train BCE {total / len(x):.5f}")
    return net.eval()


@dataclass
class TrainingRun:
    model: InterestModel
    metrics: dict
    version: str
    path: Path  # artifacts/interests/<version>
    test_handles: list[str] = field(default_factory=list)  # held-out users, rows of test_features
    test_features: np.ndarray | None = None
    seconds: dict = field(default_factory=dict)


def train(
    warehouse: Warehouse,
    artifacts_dir: Path,
    spec: ModelSpec,
    config: TrainConfig = TrainConfig(),
    echo: Callable[[str], None] = print,
    threads: int = 1,
) -> TrainingRun:
    """Read the warehouse (read-only, closed before training), train, write the artifact.
    spec: the embedding model the warehouse's title vectors come from; threads: torch threads (torch_threads)."""
    return train_on(load_training_data(warehouse, spec.model_id), artifacts_dir, spec, config, echo, threads)


def train_on(
    data: InterestData,
    artifacts_dir: Path,
    spec: ModelSpec,
    config: TrainConfig = TrainConfig(),
    echo: Callable[[str], None] = print,
    threads: int = 1,
) -> TrainingRun:
    """Train, calibrate, evaluate against the baselines and write the artifact from data already read."""
    with torch_threads(threads):
        return _train(data, Path(artifacts_dir), spec, config, echo)


def _train(
    data: InterestData, artifacts_dir: Path, spec: ModelSpec, config: TrainConfig, echo: Callable[[str], None]
) -> TrainingRun:
    started = time.perf_counter()
    version = artifact_version(data.sha256, config, spec.model_id)
    handles = list(data.activity)
    splits = np.asarray([split_of(h, config.split) for h in handles])
    index = {s: np.flatnonzero(splits == s) for s in ("train", "calibration", "test")}
    echo(
        f"{len(data.users)} users, {len(handles)} with activity (train {len(index['train'])}, calibration "
        f"{len(index['calibration'])}, test {len(index['test'])}), {len(data.interest_ids)} interests"
    )
    if not data.interest_ids:
        raise InterestDataError(f"{data.warehouse}: no interest catalogue (stg_interests is empty)")
    if min(len(i) for i in index.values()) == 0:
        raise InterestDataError(f"{data.warehouse}: too few users with activity to split into train/calibration/test")

    echo(f"encoding {len(data.labels)} interest labels with {spec.model_id} (titles: int_text_embeddings)...")
    t0 = time.perf_counter()
    label_vectors = encode_texts(spec, data.labels, progress=False)
    encode_seconds = time.perf_counter() - t0
    types = [data.users[h] for h in handles]
    features = user_features([data.title_vectors.get(h, np.zeros((0, label_vectors.shape[1]))) for h in handles], types)
    column = {interest: j for j, interest in enumerate(data.interest_ids)}
    targets = np.zeros((len(handles), len(data.interest_ids)), dtype=np.float32)
    for i, h in enumerate(handles):
        targets[i, [column[x] for x in data.activity[h].interests]] = 1.0

    echo(f"training {'linear' if not config.hidden else f'MLP({config.hidden})'} classifier, {config.epochs} epochs")
    t0 = time.perf_counter()
    tr, ca, te = index["train"], index["calibration"], index["test"]
    net = train_net(features[tr], targets[tr], config, echo)
    cold = prevalence_by_type(targets[tr], [types[i] for i in tr])
    model = InterestModel(
        net,
        asdict(config),
        (1.0, 0.0),
        data.interest_ids,
        data.labels,
        {k: v.tolist() for k, v in cold.items()},
        spec.model_id,
        version,
        features.shape[1],
    )
    model.platt = fit_platt(model.logits(features[ca]), targets[ca])
    echo(f"  Platt scaling: a={model.platt[0]:.4f} b={model.platt[1]:.4f}")
    train_seconds = time.perf_counter() - t0

    # baselines, on the same test users
    popularity = np.stack([cold[types[i]] for i in te])
    cosine = features[:, : label_vectors.shape[1]] @ label_vectors.T  # the text part: the renormalised mean title
    cosine_platt = fit_platt(cosine[ca], targets[ca])
    methods = {
        "model": evaluate(model.predict(features[te]), targets[te]),
        "popularity": evaluate(popularity, targets[te]),
        "cosine": evaluate(sigmoid(cosine_platt[0] * cosine[te] + cosine_platt[1]), targets[te]),
    }
    test = methods["model"]
    metrics = {
        "version": version,
        "k": TOP_K,
        "split": {s: int(len(i)) for s, i in index.items()},
        "cold_start_users": len(data.users) - len(handles),
        "cells": test["cells"],
        "positives": test["positives"],
        "platt": {"model": list(model.platt), "cosine": list(cosine_platt)},
        "methods": methods,
    }
    path = save_artifact(model, metrics, data.provenance(), config, artifacts_dir)
    seconds = {
        "encode_labels": round(encode_seconds, 2),
        "train": round(train_seconds, 2),
        "total": round(time.perf_counter() - started, 2),
    }
    return TrainingRun(model, metrics, version, path, [handles[i] for i in te], features[te], seconds)
