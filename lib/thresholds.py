"""Threshold selection. Pure functions.

`best_f1_pa` is STAMP's oracle search: it looks at the test labels, so its
F1 is an upper bound, reported as such.
"""
from __future__ import annotations

import numpy as np

from lib.metrics import prf_from_counts, detection_delay, pa_counts


def search_grid(score: np.ndarray, steps: int) -> np.ndarray:
    """STAMP's grid: `steps` thresholds from min + range/steps up to max."""
    lo, hi = float(np.min(score)), float(np.max(score))
    return lo + (hi - lo) * np.arange(1, steps + 1) / steps


def best_f1_pa(score: np.ndarray, label: np.ndarray, steps: int = 500) -> dict[str, float]:
    """The threshold on `search_grid` with the best point-adjusted F1 (ties: the lowest).

    Returns precision, recall, f1, tp/fp/fn, threshold, and the detection delay.
    """
    grid = search_grid(score, steps)
    tp, fp, fn = pa_counts(score, label, grid)
    f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    i = int(np.argmax(f1))
    out = prf_from_counts(int(tp[i]), int(fp[i]), int(fn[i]))
    out["threshold"] = float(grid[i])
    out["delay"] = detection_delay(score, label, grid[i])
    return out
