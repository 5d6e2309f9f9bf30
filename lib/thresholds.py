"""Threshold selection. Pure functions.

`best_f1_pa` is STAMP's oracle search: it looks at the test labels, so its
F1 is an upper bound, reported as such. `pot_threshold` and
`quantile_threshold` look only at scores of data without test labels
(the validation split).
"""
from __future__ import annotations

import numpy as np
from scipy.stats import genpareto

from lib.metrics import adjusted_counts, detection_delay, prf_from_counts, threshold_hits


def search_grid(score: np.ndarray, steps: int) -> np.ndarray:
    """STAMP's grid: `steps` thresholds from min + range/steps up to max."""
    lo, hi = float(np.min(score)), float(np.max(score))
    return lo + (hi - lo) * np.arange(1, steps + 1) / steps


def f1_of_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """Element-wise F1 = 2TP / (2TP + FP + FN), 0 where nothing is predicted or labelled."""
    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


def best_f1(score: np.ndarray, label: np.ndarray, steps: int = 500, k: float = 0.0) -> dict[str, float]:
    """The threshold on `search_grid` with the best F1 under PA%K (k = 0: point adjustment,
    k = 1: none; ties: the lowest threshold). Returns precision, recall, f1, tp/fp/fn, threshold."""
    grid = search_grid(score, steps)
    tp, fp, fn = adjusted_counts(score, label, grid, k)
    i = int(np.argmax(f1_of_counts(tp, fp, fn)))
    return {**prf_from_counts(int(tp[i]), int(fp[i]), int(fn[i])), "threshold": float(grid[i])}


def best_f1_pa(score: np.ndarray, label: np.ndarray, steps: int = 500) -> dict[str, float]:
    """STAMP's protocol: `best_f1` with point adjustment, plus the detection delay."""
    out = best_f1(score, label, steps, k=0.0)
    out["delay"] = detection_delay(score, label, out["threshold"])
    return out


def f1_at(score: np.ndarray, label: np.ndarray, threshold: float, k: float = 1.0) -> dict[str, float]:
    """Precision, recall, F1 at one threshold under PA%K (default k = 1: no adjustment)."""
    tp, fp, fn = adjusted_counts(score, label, np.array([threshold]), k)
    return {**prf_from_counts(int(tp[0]), int(fp[0]), int(fn[0])), "threshold": float(threshold)}


def pa_k_curve(score: np.ndarray, label: np.ndarray, steps: int = 500, ks: np.ndarray | None = None
               ) -> dict[str, list[float] | float]:
    """Best F1 under PA%K for K = 0, 1, ..., 100 % (each K its own best threshold on the grid),
    and the area under F1(K) with K scaled to [0, 1] (Kim et al., AAAI 2022)."""
    ks = np.arange(101) if ks is None else np.asarray(ks)
    grid = search_grid(score, steps)
    hits = threshold_hits(score, label, grid)
    f1 = [float(f1_of_counts(*adjusted_counts(score, label, grid, k / 100, hits)).max()) for k in ks]
    return {"k": ks.tolist(), "f1": f1, "auc": float(np.trapezoid(f1, ks / 100))}


# ---- thresholds chosen without test labels --------------------------------------------------
def pot_threshold(calibration: np.ndarray, q: float = 1e-3, level: float = 0.98) -> float:
    """Peaks over threshold (Siffer et al., KDD 2017): the score exceeded with probability `q`.

    The excesses of `calibration` scores over their `level` quantile t are fitted
    with a generalised Pareto distribution (scipy's maximum-likelihood
    `genpareto.fit`, location fixed at 0); the threshold is the GPD tail
    quantile t + (sigma / xi) * ((q n / n_t) ** -xi - 1) (xi = 0: t - sigma
    log(q n / n_t)). Falls back to t when fewer than 10 scores exceed it.
    """
    x = np.asarray(calibration, dtype=np.float64)
    t = float(np.quantile(x, level))
    excess = x[x > t] - t
    if excess.size < 10:
        return t
    xi, _, sigma = genpareto.fit(excess, floc=0)
    r = q * x.size / excess.size
    if abs(xi) < 1e-8:
        return t - sigma * np.log(r)
    return t + sigma / xi * (r ** -xi - 1)


def quantile_threshold(calibration: np.ndarray, level: float = 0.99) -> float:
    """The `level` quantile of the calibration scores."""
    return float(np.quantile(np.asarray(calibration, dtype=np.float64), level))
