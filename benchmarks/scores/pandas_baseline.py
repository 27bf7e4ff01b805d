"""(b)'s baseline: `percentile_history` computed in plain pandas, one iteration at a time, as a colleague would
(the loop issue 15 sets as the bar for a full recompute)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.stats import norm


def window_batches(project_dir: Path) -> int:
    """The percentile window from dbt_project.yml, so pandas computes exactly what the model computes."""
    project = yaml.safe_load((project_dir / "dbt_project.yml").read_text())
    return int(project["vars"]["percentile_window_batches"])


def pandas_percentiles(clean: pd.DataFrame, window: int) -> pd.DataFrame:
    """percentile_history in plain pandas: `percentile_loop`, then its arrays beside the rows' own columns."""
    return as_frame(clean, percentile_loop(clean, window))


def percentile_loop(clean: pd.DataFrame, window: int) -> tuple[np.ndarray, ...]:
    """The straightforward loop issue 15 sets as the bar: one frame per batch; per iteration the window's frames
    concatenated, grouped by industry, ranked (`rank(method="max", pct=True)` = cume_dist: ties count fully),
    mean and sample standard deviation by `transform`, the normal percentile by `scipy.stats.norm.cdf`. Returns
    arrays (iteration, row of `clean`, percentile, normal percentile, mean, std): the loop computes every value,
    the frame with the rows' ids is assembled once afterwards (`as_frame`). `clean` must be sorted by batch (then
    record_index)."""
    # an asset scored again within a window counts once, with its latest score, as in the model: each row of an
    # id scored more than once knows the batch that scores it next, and leaves every window from that batch on
    # (found once, before the loop, among the repeated ids only; the loop has no dedupe)
    next_batch = np.full(len(clean), np.inf)
    repeated = clean["id"].duplicated(keep=False).to_numpy()
    if repeated.any():
        next_batch[repeated] = clean[repeated].groupby("id", sort=False)["batch"].shift(-1).fillna(np.inf).to_numpy()
    rows = clean[["batch", "industry", "score"]].assign(row=np.arange(len(clean)), next_batch=next_batch)
    frames = {int(b): frame for b, frame in rows.groupby("batch", sort=True)}
    first, last = min(frames), max(frames)
    parts = [(np.zeros(0, int), np.zeros(0, int), *(np.zeros(0) for _ in range(4)))]  # none before the window
    for iteration in range(first + window - 1, last + 1):
        frame = pd.concat([frames[b] for b in range(iteration - window + 1, iteration + 1) if b in frames])
        frame = frame[frame["next_batch"].to_numpy() > iteration]
        by_industry = frame.groupby("industry", sort=False)["score"]
        mean = by_industry.transform("mean").to_numpy()
        std = by_industry.transform("std").to_numpy()  # ddof=1, like stddev_samp; NaN for a single score
        score = frame["score"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(std > 0, (score - mean) / std, np.nan)  # no spread, no normal percentile
        parts.append(
            (
                np.full(len(frame), iteration),
                frame["row"].to_numpy(),
                by_industry.rank(method="max", pct=True).to_numpy() * 100,
                norm.cdf(z) * 100,
                mean,
                std,
            )
        )
    return tuple(np.concatenate(column) for column in zip(*parts))


def as_frame(clean: pd.DataFrame, arrays: tuple[np.ndarray, ...]) -> pd.DataFrame:
    """percentile_loop's arrays as percentile_history's columns, the rows' own columns taken once as they are."""
    iterations, row, percentile, normal, mean, std = arrays
    result = clean.iloc[row][["id", "batch", "industry", "score"]].reset_index(drop=True)
    result.insert(0, "iteration", iterations)
    return result.assign(percentile=percentile, normal_percentile=normal, window_mean=mean, window_stddev=std)
