"""Per-user interest probabilities: a small multi-label classifier on what users read, with calibrated output.

The old prototype called raw logits probabilities. Here a user's features are the mean embedding of the content
titles they consumed plus their type; a linear multi-label layer (BCEWithLogits) scores every interest, and one
global Platt scaling fitted on held-out users turns scores into probabilities that mean what they say (checked
with a reliability table and ECE on other held-out users). Two baselines are scored on the same test users:
per-type popularity and title/label cosine similarity. Users without activity get the cold-start estimate: the
interest's prevalence among training users of their type.

`python -m training.interests` trains on `DATA_DIR/interests/` (or the sample) and writes
`artifacts/interests/<version>/`; `InterestModel.load()` reads the version named in `artifacts/interests/LATEST`.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from ingestion.model_source import ModelSpec
from ingestion.warehouse import sha256_of

USER_TYPES = ("B2B", "B2C")  # the one-hot order of the features
TITLE_SEPARATOR = " | "
FILES = ("users.csv", "interests.csv", "user_activity.csv")
HEADERS = {
    "users.csv": ("id", "name", "type"),
    "interests.csv": ("id", "label"),
    "user_activity.csv": ("USER_HANDLE", "USER_TYPE", "CONTENT_TITLES_JOINED", "USER_INTERESTS"),
}
ARTIFACT_SUBDIR = "interests"
TOP_K = 10
RELIABILITY_BINS = 10


class InterestDataError(ValueError):
    """The input files cannot be trained on; the message names the file and the line."""


class EmbeddingModelMismatch(ValueError):
    """Scoring features from another embedding model than the one the model was trained on would be garbage."""


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class User:
    handle: str
    name: str
    type: str


@dataclass(frozen=True)
class Activity:
    user_type: str
    titles: tuple[str, ...]
    interests: frozenset[str]


@dataclass
class InterestData:
    folder: Path
    users: list[User]  # file order
    interest_ids: list[str]  # catalogue, file order: the column order of every matrix
    labels: list[str]
    activity: dict[str, Activity]  # handle -> activity, file order; users without a row are cold-start
    file_hashes: dict[str, str]  # file name -> sha256

    def user_type(self, handle: str) -> str:
        return self._types[handle]

    def __post_init__(self) -> None:
        self._types = {u.handle: u.type for u in self.users}


def _rows(path: Path):
    """Yield (line number, {column: value}) for each record; a wrong header or field count names the line."""
    name, expected = path.name, HEADERS[path.name]
    if not path.is_file():
        raise InterestDataError(f"{path}: file missing")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise InterestDataError(f"{path} line 1: {exc}") from None
        if not header:
            raise InterestDataError(f"{path} line 1: empty file, expected header {','.join(expected)}")
        missing = [column for column in expected if column not in header]
        if missing:
            raise InterestDataError(
                f"{path} line 1: header lacks column(s) {', '.join(missing)} (expected {','.join(expected)}, "
                f"got {','.join(header)})")
        index = {column: header.index(column) for column in expected}
        while True:
            line = reader.line_num + 1  # where the next record starts
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise InterestDataError(f"{path} line {line}: {exc}") from None
            if not row:
                continue  # blank line
            if len(row) != len(header):
                raise InterestDataError(
                    f"{path} line {line}: {len(row)} field(s), expected {len(header)} ({','.join(header)}); "
                    f"missing columns or an unquoted comma in {name}?")
            yield line, {column: row[i] for column, i in index.items()}


def load_interest_data(folder: Path) -> InterestData:
    """Read and cross-check the three files; any inconsistency is an error naming file and line, never skipped,
    because a silently dropped user or interest would shift what the model learns."""
    folder = Path(folder)
    users: dict[str, User] = {}
    for line, row in _rows(folder / "users.csv"):
        where = f"{folder / 'users.csv'} line {line}"
        handle, kind = row["id"].strip(), row["type"].strip()
        if not handle:
            raise InterestDataError(f"{where}: empty id")
        if kind not in USER_TYPES:
            raise InterestDataError(f"{where}: type {kind!r} is not one of {', '.join(USER_TYPES)}")
        if handle in users:
            raise InterestDataError(f"{where}: duplicate user id {handle}")
        users[handle] = User(handle, row["name"], kind)

    ids, labels = [], []
    for line, row in _rows(folder / "interests.csv"):
        where = f"{folder / 'interests.csv'} line {line}"
        interest, label = row["id"].strip(), row["label"].strip()
        if not interest or not label:
            raise InterestDataError(f"{where}: empty id or label")
        if interest in ids:
            raise InterestDataError(f"{where}: duplicate interest id {interest}")
        ids.append(interest)
        labels.append(label)
    known = set(ids)

    activity: dict[str, Activity] = {}
    for line, row in _rows(folder / "user_activity.csv"):
        where = f"{folder / 'user_activity.csv'} line {line}"
        handle, kind = row["USER_HANDLE"].strip(), row["USER_TYPE"].strip()
        if handle not in users:
            raise InterestDataError(f"{where}: activity for unknown user {handle!r} (not in users.csv)")
        if handle in activity:
            raise InterestDataError(f"{where}: second activity row for user {handle}")
        if kind != users[handle].type:
            raise InterestDataError(f"{where}: USER_TYPE {kind!r} disagrees with users.csv type {users[handle].type!r}")
        try:
            interests = json.loads(row["USER_INTERESTS"])
        except json.JSONDecodeError as exc:
            raise InterestDataError(f"{where}: USER_INTERESTS is not valid JSON ({exc.msg}): "
                                    f"{row['USER_INTERESTS'][:80]!r}") from None
        if not isinstance(interests, list) or not all(isinstance(i, str) for i in interests):
            raise InterestDataError(f"{where}: USER_INTERESTS must be a JSON array of interest ids")
        unknown = [i for i in interests if i not in known]
        if unknown:
            raise InterestDataError(f"{where}: unknown interest id {unknown[0]!r} (not in interests.csv)")
        titles = tuple(t.strip() for t in row["CONTENT_TITLES_JOINED"].split(TITLE_SEPARATOR) if t.strip())
        activity[handle] = Activity(kind, titles, frozenset(interests))

    hashes = {name: sha256_of((folder / name).read_bytes()) for name in FILES}
    return InterestData(folder, list(users.values()), ids, labels, activity, hashes)


# ---------------------------------------------------------------- features


def user_features(title_vectors: list[np.ndarray], user_types: list[str]) -> np.ndarray:
    """Per user: the mean of their unit title vectors, renormalised, then a one-hot of the user type.

    Called with precomputed vectors (n_titles x dim per user) so training and scoring share one definition.
    A user with no titles gets a zero text part: the model then falls back on the type alone.
    """
    if len(title_vectors) != len(user_types):
        raise ValueError(f"{len(title_vectors)} title-vector sets for {len(user_types)} user types")
    if not title_vectors:
        raise ValueError("no users")
    dims = {np.asarray(v).shape[-1] for v in title_vectors if np.asarray(v).size}
    if len(dims) > 1:
        raise ValueError(f"title vectors of different sizes: {sorted(dims)}")
    dim = dims.pop() if dims else 0
    out = np.zeros((len(title_vectors), dim + len(USER_TYPES)), dtype=np.float32)
    for row, (vectors, kind) in enumerate(zip(title_vectors, user_types)):
        if kind not in USER_TYPES:
            raise ValueError(f"user type {kind!r} is not one of {', '.join(USER_TYPES)}")
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, dim) if dim else np.zeros((0, 0))
        if len(vectors):
            mean = vectors.mean(axis=0)
            norm = float(np.linalg.norm(mean))
            if norm > 0:
                out[row, :dim] = mean / norm
        out[row, dim + USER_TYPES.index(kind)] = 1.0
    return out


# ---------------------------------------------------------------- model and calibration


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


class Standardise(nn.Module):
    """(x - mean) / std with the training users' statistics, kept in the state dict so scoring applies the same."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, x: torch.Tensor) -> "Standardise":
        self.mean.copy_(x.mean(dim=0))
        self.std.copy_(x.std(dim=0).clamp_min(1e-6))  # the one-hot of a type absent from training: constant
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def build_net(input_dim: int, n_interests: int, hidden: int) -> nn.Sequential:
    if hidden:
        return nn.Sequential(Standardise(input_dim), nn.Linear(input_dim, hidden), nn.ReLU(),
                             nn.Linear(hidden, n_interests))
    return nn.Sequential(Standardise(input_dim), nn.Linear(input_dim, n_interests))


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
    """'train' / 'calibration' / 'test' from a hash of the handle: stable across runs, machines and file order."""
    bucket = int(hashlib.sha256(handle.encode()).hexdigest()[:8], 16) % sum(split)
    return "train" if bucket < split[0] else "calibration" if bucket < split[0] + split[1] else "test"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))


def fit_platt(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(a, b) minimising the log loss of sigmoid(a * score + b): Newton steps with backtracking (convex).

    Global, not per interest: on the sample the calibration users hold 992 positives over 300 interests, a median
    of 2 per interest and none for 62 of them; a two-parameter fit per interest on that would be noise (or
    undefined), while one shared map has ~118k cells and ~1k positives to pin its two parameters.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()

    def loss(a: float, b: float) -> float:
        z = a * s + b
        return float(np.mean(np.logaddexp(0.0, z) - y * z))

    a, b = 1.0, 0.0
    current = loss(a, b)
    for _ in range(100):
        p = _sigmoid(a * s + b)
        r, w = p - y, p * (1 - p)
        grad = np.array([np.mean(r * s), np.mean(r)])
        hess = np.array([[np.mean(w * s * s), np.mean(w * s)], [np.mean(w * s), np.mean(w)]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-8:
            na, nb = a - t * step[0], b - t * step[1]
            new = loss(na, nb)
            if new <= current:
                break
            t /= 2
        else:
            break
        a, b, improvement, current = na, nb, current - new, new
        if improvement < 1e-12:
            break
    return float(a), float(b)


class InterestModel:
    """The trained classifier, its calibration, catalogue and cold-start estimates: everything scoring needs."""

    def __init__(self, net, config: dict, platt: tuple[float, float], interest_ids: list[str], labels: list[str],
                 cold_start: dict[str, list[float]], embedding_model_id: str, version: str, input_dim: int):
        self.net = net.eval()
        self.config = config
        self.platt = platt
        self.interest_ids = list(interest_ids)
        self.labels = list(labels)
        self._cold_start = {kind: np.asarray(p, dtype=np.float64) for kind, p in cold_start.items()}
        self.embedding_model_id = embedding_model_id
        self.version = version
        self.input_dim = input_dim

    def logits(self, features: np.ndarray) -> np.ndarray:
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != self.input_dim:
            raise ValueError(f"features must be users x {self.input_dim} (user_features output), "
                             f"got {features.shape}")
        with torch.no_grad():
            return self.net(torch.from_numpy(features)).numpy().astype(np.float64)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """users x interests calibrated probabilities, columns in `interest_ids` order."""
        a, b = self.platt
        return _sigmoid(a * self.logits(features) + b)

    def cold_start(self, user_type: str) -> np.ndarray:
        """Per-interest probability for a user of this type with no activity: prevalence among training users."""
        if user_type not in self._cold_start:
            raise ValueError(f"user type {user_type!r} is not one of {', '.join(self._cold_start)}")
        return self._cold_start[user_type].copy()

    def check_embedding_model(self, model_id: str) -> None:
        if model_id != self.embedding_model_id:
            raise EmbeddingModelMismatch(
                f"interest model {self.version} was trained on {self.embedding_model_id} title vectors; features "
                f"from {model_id} would be meaningless to it. Retrain (python -m training.interests) or use that "
                f"embedding model.")

    def save(self, directory: Path) -> None:
        """model.pt (state dict + config + calibration), catalogue.json, cold_start.json."""
        directory.mkdir(parents=True, exist_ok=True)
        torch.save({
            "state_dict": self.net.state_dict(), "config": self.config, "platt": list(self.platt),
            "input_dim": self.input_dim, "n_interests": len(self.interest_ids),
            "embedding_model_id": self.embedding_model_id, "version": self.version,
        }, directory / "model.pt")
        _write_json(directory / "catalogue.json", {"interest_ids": self.interest_ids, "labels": self.labels})
        _write_json(directory / "cold_start.json", {
            "description": "per user type: probability of each interest (catalogue order) for a user without "
                           "activity = its prevalence among training users of that type",
            "user_types": {kind: p.tolist() for kind, p in self._cold_start.items()},
        })

    @classmethod
    def load(cls, path: Path, embedding_model_id: str | None = None) -> "InterestModel":
        """Load a version folder, or follow the LATEST file of an `interests` folder. With embedding_model_id,
        refuse a model trained on another embedding model."""
        path = Path(path)
        if (path / "LATEST").is_file() and not (path / "model.pt").is_file():
            path = path / (path / "LATEST").read_text().strip()
        if not (path / "model.pt").is_file():
            raise FileNotFoundError(f"{path}: no trained interest model (model.pt); run python -m training.interests")
        saved = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        catalogue = json.loads((path / "catalogue.json").read_text())
        cold = json.loads((path / "cold_start.json").read_text())["user_types"]
        net = build_net(saved["input_dim"], saved["n_interests"], saved["config"]["hidden"])
        net.load_state_dict(saved["state_dict"])
        model = cls(net, saved["config"], tuple(saved["platt"]), catalogue["interest_ids"], catalogue["labels"],
                    cold, saved["embedding_model_id"], saved["version"], saved["input_dim"])
        if embedding_model_id is not None:
            model.check_embedding_model(embedding_model_id)
        return model


def train_net(features: np.ndarray, targets: np.ndarray, config: TrainConfig,
              echo: Callable[[str], None] = print):
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
            batch = order[start:start + config.batch_size]
            optimiser.zero_grad()
            loss = loss_fn(net(x[batch]), y[batch])
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        if epoch == 1 or epoch % 10 == 0 or epoch == config.epochs:
            echo(f"  epoch {epoch:3d}/{config.epochs}: train BCE {total / len(x):.5f}")
    return net.eval()


# ---------------------------------------------------------------- metrics


def reliability_table(probabilities: np.ndarray, targets: np.ndarray, bins: int = RELIABILITY_BINS) -> list[dict]:
    """Equal-width bins over [0, 1] (the last includes 1.0): count, mean predicted, observed frequency."""
    p, y = np.asarray(probabilities, dtype=np.float64).ravel(), np.asarray(targets, dtype=np.float64).ravel()
    which = np.minimum((p * bins).astype(int), bins - 1)
    table = []
    for b in range(bins):
        mask = which == b
        count = int(mask.sum())
        table.append({
            "bin": f"[{b / bins:.1f}, {(b + 1) / bins:.1f}{']' if b == bins - 1 else ')'}",
            "count": count,
            "mean_predicted": float(p[mask].mean()) if count else None,
            "observed_frequency": float(y[mask].mean()) if count else None,
        })
    return table


def evaluate(probabilities: np.ndarray, targets: np.ndarray, k: int = TOP_K) -> dict:
    """precision@k and recall@k (macro over users holding at least one interest), Brier and log loss over all
    user x interest cells, reliability table and ECE (count-weighted |mean predicted - observed| over bins)."""
    p, y = np.asarray(probabilities, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    # stable sort on -p: ties (popularity gives every user of a type the same scores) break by catalogue order
    top = np.argsort(-p, axis=1, kind="stable")[:, :k]
    hits = np.take_along_axis(y, top, axis=1).sum(axis=1)
    held = y.sum(axis=1)
    ranked = held > 0
    table = reliability_table(p, y)
    n = p.size
    ece = sum(row["count"] / n * abs(row["mean_predicted"] - row["observed_frequency"])
              for row in table if row["count"])
    clipped = np.clip(p, 1e-12, 1 - 1e-12)
    return {
        f"precision@{k}": float((hits[ranked] / k).mean()),
        f"recall@{k}": float((hits[ranked] / held[ranked]).mean()),
        "brier": float(np.mean((p - y) ** 2)),
        "log_loss": float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))),
        "ece": float(ece),
        "users": int(p.shape[0]),
        "cells": int(n),
        "positives": int(y.sum()),
        "reliability": table,
    }


def metrics_markdown(metrics: dict, version: str) -> str:
    methods = metrics["methods"]
    lines = [f"# Interest model {version}", "",
             f"Held-out test users: {metrics['split']['test']} ({metrics['cells']} user x interest cells, "
             f"{metrics['positives']} positives). Calibration: global Platt scaling on "
             f"{metrics['split']['calibration']} other held-out users.", "",
             f"| method | precision@{TOP_K} | recall@{TOP_K} | Brier | log loss | ECE |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, m in methods.items():
        lines.append(f"| {name} | {m[f'precision@{TOP_K}']:.4f} | {m[f'recall@{TOP_K}']:.4f} | {m['brier']:.5f} | "
                     f"{m['log_loss']:.5f} | {m['ece']:.5f} |")
    for name, m in methods.items():
        lines += ["", f"## Reliability: {name}", "", "| bin | count | mean predicted | observed frequency |",
                  "|---|---:|---:|---:|"]
        for row in m["reliability"]:
            fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
            lines.append(f"| {row['bin']} | {row['count']} | {fmt(row['mean_predicted'])} | "
                         f"{fmt(row['observed_frequency'])} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- training run and artifact


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def artifact_version(file_hashes: dict[str, str], config: TrainConfig, embedding_model_id: str) -> str:
    """Same data, config and embedding model -> same version (the data folder's location does not count)."""
    key = json.dumps({"files": dict(sorted(file_hashes.items())), "config": asdict(config),
                      "embedding_model_id": embedding_model_id}, sort_keys=True)
    return "interests-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def prevalence_by_type(targets: np.ndarray, types: list[str]) -> dict[str, np.ndarray]:
    """Per type, the share of (training) users holding each interest; a type with no users gets the overall one."""
    types_arr, targets = np.asarray(types), np.asarray(targets, dtype=np.float64)
    overall = targets.mean(axis=0)
    return {kind: targets[types_arr == kind].mean(axis=0) if (types_arr == kind).any() else overall
            for kind in USER_TYPES}


@dataclass
class TrainingRun:
    model: InterestModel
    metrics: dict
    version: str
    path: Path  # artifacts/interests/<version>
    test_handles: list[str] = field(default_factory=list)  # held-out users, rows of test_features
    test_features: np.ndarray | None = None
    seconds: dict = field(default_factory=dict)


def train(data_dir: Path, artifacts_dir: Path, spec: ModelSpec, config: TrainConfig = TrainConfig(),
          echo: Callable[[str], None] = print, threads: int = 1) -> TrainingRun:
    """Load, encode distinct titles once, train, calibrate, evaluate against the baselines, write the artifact.
    spec: the embedding model; threads: torch threads (see torch_threads)."""
    with torch_threads(threads):
        return _train(Path(data_dir), Path(artifacts_dir), spec, config, echo)


def _train(data_dir: Path, artifacts_dir: Path, spec: ModelSpec, config: TrainConfig,
           echo: Callable[[str], None]) -> TrainingRun:
    from ingestion.embedding import encode_texts

    started = time.perf_counter()
    data = load_interest_data(data_dir)
    version = artifact_version(data.file_hashes, config, spec.model_id)

    handles = list(data.activity)
    splits = np.asarray([split_of(h, config.split) for h in handles])
    index = {s: np.flatnonzero(splits == s) for s in ("train", "calibration", "test")}
    echo(f"{len(data.users)} users, {len(handles)} with activity (train {len(index['train'])}, calibration "
         f"{len(index['calibration'])}, test {len(index['test'])}), {len(data.interest_ids)} interests")
    if min(len(i) for i in index.values()) == 0:
        raise InterestDataError(f"{data.folder}: too few users with activity to split into train/calibration/test")

    titles = sorted({t for a in data.activity.values() for t in a.titles})
    echo(f"encoding {len(titles)} distinct titles and {len(data.labels)} interest labels with {spec.model_id}...")
    t0 = time.perf_counter()
    vectors = encode_texts(spec, titles + data.labels, progress=False)
    title_vectors, label_vectors = vectors[:len(titles)], vectors[len(titles):]
    encode_seconds = time.perf_counter() - t0
    echo(f"  encoded in {encode_seconds:.1f}s")
    row_of = {t: i for i, t in enumerate(titles)}
    types = [data.activity[h].user_type for h in handles]
    features = user_features([title_vectors[[row_of[t] for t in data.activity[h].titles]] for h in handles], types)
    column = {interest: j for j, interest in enumerate(data.interest_ids)}
    targets = np.zeros((len(handles), len(data.interest_ids)), dtype=np.float32)
    for i, h in enumerate(handles):
        targets[i, [column[x] for x in data.activity[h].interests]] = 1.0

    echo(f"training {'linear' if not config.hidden else f'MLP({config.hidden})'} classifier, {config.epochs} epochs")
    t0 = time.perf_counter()
    tr, ca, te = index["train"], index["calibration"], index["test"]
    net = train_net(features[tr], targets[tr], config, echo)
    cold = prevalence_by_type(targets[tr], [types[i] for i in tr])
    model = InterestModel(net, asdict(config), (1.0, 0.0), data.interest_ids, data.labels,
                          {k: v.tolist() for k, v in cold.items()}, spec.model_id, version, features.shape[1])
    model.platt = fit_platt(model.logits(features[ca]), targets[ca])
    echo(f"  Platt scaling: a={model.platt[0]:.4f} b={model.platt[1]:.4f}")
    train_seconds = time.perf_counter() - t0

    # baselines, on the same test users
    popularity = np.stack([cold[types[i]] for i in te])
    dim = title_vectors.shape[1]
    cosine = features[:, :dim] @ label_vectors.T  # the text part is the renormalised mean title vector
    cosine_platt = fit_platt(cosine[ca], targets[ca])
    methods = {
        "model": evaluate(model.predict(features[te]), targets[te]),
        "popularity": evaluate(popularity, targets[te]),
        "cosine": evaluate(_sigmoid(cosine_platt[0] * cosine[te] + cosine_platt[1]), targets[te]),
    }
    test = methods["model"]
    metrics = {
        "version": version, "k": TOP_K, "split": {s: int(len(i)) for s, i in index.items()},
        "cold_start_users": len(data.users) - len(handles), "cells": test["cells"], "positives": test["positives"],
        "platt": {"model": list(model.platt), "cosine": list(cosine_platt)},
        "methods": methods,
    }
    path = save_artifact(model, metrics, data, config, artifacts_dir)
    seconds = {"encode": round(encode_seconds, 2), "train": round(train_seconds, 2),
               "total": round(time.perf_counter() - started, 2)}
    return TrainingRun(model, metrics, version, path, [handles[i] for i in te], features[te], seconds)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("torch", "numpy", "sentence-transformers", "transformers"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def save_artifact(model: InterestModel, metrics: dict, data: InterestData, config: TrainConfig,
                  artifacts_dir: Path) -> Path:
    """Write artifacts/interests/<version>/ via a staging folder (a reader never sees half a model), then LATEST
    (tmp + os.replace)."""
    root = Path(artifacts_dir) / ARTIFACT_SUBDIR
    root.mkdir(parents=True, exist_ok=True)
    target = root / model.version
    staging = Path(tempfile.mkdtemp(prefix=f".{model.version}-", dir=root))
    staging.chmod(0o755)  # mkdtemp makes it private; the artifact is for every reader of the folder
    try:
        model.save(staging)
        _write_json(staging / "metrics.json", metrics)
        (staging / "metrics.md").write_text(metrics_markdown(metrics, model.version), encoding="utf-8")
        _write_json(staging / "training.json", {
            "version": model.version, "data_dir": str(data.folder.resolve()), "files_sha256": data.file_hashes,
            "embedding_model_id": model.embedding_model_id, "config": asdict(config),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "versions": _versions(),
            "users": len(data.users), "users_with_activity": len(data.activity), "interests": len(data.interest_ids),
        })
        if target.exists():  # same version = same inputs: replace it with this run's files
            old = Path(tempfile.mkdtemp(prefix=f".{model.version}-old-", dir=root))
            os.replace(target, old / "v")
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    latest_tmp = root / f".LATEST.{os.getpid()}.tmp"
    latest_tmp.write_text(model.version + "\n", encoding="utf-8")
    os.replace(latest_tmp, root / "LATEST")
    return target


# ---------------------------------------------------------------- CLI


def default_data_dir(data_dir: Path) -> tuple[Path, str]:
    from ingestion.settings import PROJECT_ROOT

    configured = data_dir / "interests"
    if (configured / "user_activity.csv").is_file():
        return configured, f"{configured} holds user_activity.csv"
    sample = PROJECT_ROOT / "sample_data" / "interests"
    return sample, f"{configured / 'user_activity.csv'} not found, using the committed sample"


def latest_if_current(artifacts_dir: Path, embedding_model_id: str) -> str | None:
    """The LATEST version when it exists and was trained with this embedding model, else None."""
    root = artifacts_dir / ARTIFACT_SUBDIR
    try:
        version = (root / "LATEST").read_text().strip()
        trained = json.loads((root / version / "training.json").read_text())["embedding_model_id"]
    except (OSError, ValueError, KeyError):
        return None
    return version if trained == embedding_model_id and (root / version / "model.pt").is_file() else None


def main(argv: list[str] | None = None) -> int:
    from ingestion.model_source import ModelSourceError
    from ingestion.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m training.interests", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="folder with users.csv, interests.csv, user_activity.csv "
                        "(default: DATA_DIR/interests if it has user_activity.csv, else the sample)")
    parser.add_argument("--if-missing", action="store_true",
                        help="do nothing when LATEST exists and was trained with the configured embedding model")
    parser.add_argument("--artifacts-dir", type=Path, help="default: ARTIFACTS_DIR (artifacts/)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    artifacts_dir = args.artifacts_dir or settings.artifacts_dir
    try:
        if args.if_missing:
            version = latest_if_current(artifacts_dir, settings.embedding_spec().model_id)
            if version:
                print(f"{version} (already trained with the configured embedding model; --if-missing)")
                return 0
            print("--if-missing: no LATEST model trained with the configured embedding model; training")
        if args.data_dir:
            data_dir = args.data_dir
            print(f"data: {data_dir} (--data-dir)")
        else:
            data_dir, why = default_data_dir(settings.data_dir)
            print(f"data: {data_dir} ({why})")
        run = train(data_dir, artifacts_dir, settings.embedding_spec())
    except (InterestDataError, ModelSourceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print()
    print(metrics_markdown(run.metrics, run.version))
    print(f"timings (s): {run.seconds}")
    print(f"artifact: {run.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
