"""(b)'s baseline: `percentile_history` computed in plain pandas, one iteration at a time, as a colleague would."""

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
    """percentile_history in plain pandas. `clean` must be sorted by batch (then record_index)."""
    batch = clean["batch"].to_numpy()
    first, last = int(batch[0]), int(batch[-1])
    parts = []
    for iteration in range(first + window - 1, last + 1):
        # rows are in batch order, so a window is one contiguous slice
        lo = np.searchsorted(batch, iteration - window + 1, side="left")
        hi = np.searchsorted(batch, iteration, side="right")
        # an asset scored again within a window counts once with its latest score, as in the model
        frame = clean.iloc[lo:hi].drop_duplicates("id", keep="last")
        by_industry = frame.groupby("industry", sort=False)["score"]
        mean = by_industry.transform("mean").to_numpy()
        std = by_industry.transform("std").to_numpy()  # ddof=1, like stddev_samp; NaN for a single score
        score = frame["score"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(std > 0, (score - mean) / std, np.nan)  # no spread, no normal percentile
        parts.append(
            pd.DataFrame({
                "iteration": iteration,
                "id": frame["id"].to_numpy(),
                "batch": frame["batch"].to_numpy(),
                "industry": frame["industry"].to_numpy(),
                "score": score,
                # rank(method="max", pct=True) = share of scores <= this one, ties counted fully = cume_dist
                "percentile": by_industry.rank(method="max", pct=True).to_numpy() * 100,
                "normal_percentile": norm.cdf(z) * 100,
                "window_mean": mean,
                "window_stddev": std,
            })
        )
    return pd.concat(parts, ignore_index=True)
