"""How well a method's probabilities rank and calibrate on held-out users: precision@k, recall@k, Brier, log
loss, a reliability table and ECE, and the markdown report of a training run."""

from __future__ import annotations

import numpy as np

TOP_K = 10
RELIABILITY_BINS = 10


def reliability_table(probabilities: np.ndarray, targets: np.ndarray, bins: int = RELIABILITY_BINS) -> list[dict]:
    """Equal-width bins over [0, 1] (the last includes 1.0): count, mean predicted, observed frequency."""
    p, y = np.asarray(probabilities, dtype=np.float64).ravel(), np.asarray(targets, dtype=np.float64).ravel()
    which = np.minimum((p * bins).astype(int), bins - 1)
    table = []
    for b in range(bins):
        mask = which == b
        count = int(mask.sum())
        table.append(
            {
                "bin": f"[{b / bins:.1f}, {(b + 1) / bins:.1f}{']' if b == bins - 1 else ')'}",
                "count": count,
                "mean_predicted": float(p[mask].mean()) if count else None,
                "observed_frequency": float(y[mask].mean()) if count else None,
            }
        )
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
    ece = sum(
        row["count"] / n * abs(row["mean_predicted"] - row["observed_frequency"]) for row in table if row["count"]
    )
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
    lines = [
        f"# Interest model {version}",
        "",
        f"Held-out test users: {metrics['split']['test']} ({metrics['cells']} user x interest cells, "
        f"{metrics['positives']} positives). Calibration: global Platt scaling on "
        f"{metrics['split']['calibration']} other held-out users.",
        "",
        f"| method | precision@{TOP_K} | recall@{TOP_K} | Brier | log loss | ECE |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, m in methods.items():
        lines.append(
            f"| {name} | {m[f'precision@{TOP_K}']:.4f} | {m[f'recall@{TOP_K}']:.4f} | {m['brier']:.5f} | "
            f"{m['log_loss']:.5f} | {m['ece']:.5f} |"
        )
    for name, m in methods.items():
        lines += [
            "",
            f"## Reliability: {name}",
            "",
            "| bin | count | mean predicted | observed frequency |",
            "|---|---:|---:|---:|",
        ]
        for row in m["reliability"]:
            fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
            lines.append(
                f"| {row['bin']} | {row['count']} | {fmt(row['mean_predicted'])} | {fmt(row['observed_frequency'])} |"
            )
    return "\n".join(lines) + "\n"
