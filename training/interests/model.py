"""The interest model: a standardised linear (or one-hidden-layer) multi-label net, one global Platt scaling that
turns its scores into probabilities, and per-type cold-start priors for users without activity.

`InterestModel` is everything scoring needs; `save` / `load` are its own files (model.pt, catalogue.json,
cold_start.json). The rest of a training run's artifact (version, metrics, LATEST) is training.interests.artifacts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.interests.artifacts import resolve_version_folder, write_json
from training.interests.features import USER_TYPES


class EmbeddingModelMismatch(ValueError):
    """Scoring features from another embedding model than the one the model was trained on would be garbage."""


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
        return nn.Sequential(
            Standardise(input_dim), nn.Linear(input_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_interests)
        )
    return nn.Sequential(Standardise(input_dim), nn.Linear(input_dim, n_interests))


def sigmoid(z: np.ndarray) -> np.ndarray:
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
        p = sigmoid(a * s + b)
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


def prevalence_by_type(targets: np.ndarray, types: list[str]) -> dict[str, np.ndarray]:
    """The cold-start prior: per type, the share of (training) users holding each interest; a type with no users
    gets the overall share."""
    types_arr, targets = np.asarray(types), np.asarray(targets, dtype=np.float64)
    overall = targets.mean(axis=0)
    return {
        kind: targets[types_arr == kind].mean(axis=0) if (types_arr == kind).any() else overall for kind in USER_TYPES
    }


class InterestModel:
    """The trained classifier, its calibration, catalogue and cold-start estimates: everything scoring needs."""

    def __init__(
        self,
        net,
        config: dict,
        platt: tuple[float, float],
        interest_ids: list[str],
        labels: list[str],
        cold_start: dict[str, list[float]],
        embedding_model_id: str,
        version: str,
        input_dim: int,
    ):
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
            raise ValueError(f"features must be users x {self.input_dim} (user_features output), got {features.shape}")
        with torch.no_grad():
            return self.net(torch.from_numpy(features)).numpy().astype(np.float64)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """users x interests calibrated probabilities, columns in `interest_ids` order."""
        a, b = self.platt
        return sigmoid(a * self.logits(features) + b)

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
                f"embedding model."
            )

    def save(self, directory: Path) -> None:
        """model.pt (state dict + config + calibration), catalogue.json, cold_start.json."""
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "state_dict": self.net.state_dict(),
                "config": self.config,
                "platt": list(self.platt),
                "input_dim": self.input_dim,
                "n_interests": len(self.interest_ids),
                "embedding_model_id": self.embedding_model_id,
                "version": self.version,
            },
            directory / "model.pt",
        )
        write_json(directory / "catalogue.json", {"interest_ids": self.interest_ids, "labels": self.labels})
        write_json(
            directory / "cold_start.json",
            {
                "description": "per user type: probability of each interest (catalogue order) for a user without "
                "activity = its prevalence among training users of that type",
                "user_types": {kind: p.tolist() for kind, p in self._cold_start.items()},
            },
        )

    @classmethod
    def load(cls, path: Path, embedding_model_id: str | None = None) -> "InterestModel":
        """Load a version folder, or follow the LATEST file of an `interests` folder. With embedding_model_id,
        refuse a model trained on another embedding model."""
        path = resolve_version_folder(Path(path))
        if not (path / "model.pt").is_file():
            raise FileNotFoundError(f"{path}: no trained interest model (model.pt); run python -m training.interests")
        saved = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        catalogue = json.loads((path / "catalogue.json").read_text())
        cold = json.loads((path / "cold_start.json").read_text())["user_types"]
        net = build_net(saved["input_dim"], saved["n_interests"], saved["config"]["hidden"])
        net.load_state_dict(saved["state_dict"])
        model = cls(
            net,
            saved["config"],
            tuple(saved["platt"]),
            catalogue["interest_ids"],
            catalogue["labels"],
            cold,
            saved["embedding_model_id"],
            saved["version"],
            saved["input_dim"],
        )
        if embedding_model_id is not None:
            model.check_embedding_model(embedding_model_id)
        return model
