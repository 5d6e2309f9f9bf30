"""Threshold selection. Pure functions.

`best_f1_pa` is STAMP's oracle search: it looks at the test labels, so its
F1 is an upper bound, reported as such. `pot_threshold` and
`quantile_threshold` look only at scores of data without test labels
(the validation split).
"""
from __future__ import annotations

import numpy as np
from scipy.stats import genpareto

from lib.metrics.counts import adjusted_counts, detection_delay, prf_from_counts, threshold_hits


def search_grid(score: np.ndarray, steps: int) -> np.ndarray:
    """STAMP's grid: `steps` thresholds from min + range/steps up to max, each the previous plus
    range/steps, added one at a time as STAMP's `bf_search` does (so the floats are its own)."""
    lo, hi = float(np.min(score)), float(np.max(score))
    return np.cumsum(np.concatenate([[lo], np.full(steps, (hi - lo) / float(steps))]))[1:]


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
    """STAMP's protocol: `best_f1` with point adjustment on its grid of `steps` thresholds (recorded
    as `grid`: PA-F1 on a grid is not the exact best), plus the detection delay."""
    out = best_f1(score, label, steps, k=0.0)
    out["delay"] = detection_delay(score, label, out["threshold"])
    out["grid"] = int(steps)
    return out


def best_f1_exact(score: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """The best point-wise F1 (no adjustment) over every distinct score, as TSB-AD's Standard-F1
    takes it from `precision_recall_curve`: predicting score >= t for each distinct t. The
    returned threshold follows that convention (`rule`: ">=")."""
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(label).astype(bool)
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]       # the last of each run of equal scores
    tp = np.cumsum(y_sorted)[last]
    n_pred = (np.flatnonzero(last) + 1)
    f1 = f1_of_counts(tp, n_pred - tp, y.sum() - tp)
    i = int(np.argmax(f1))
    return {**prf_from_counts(int(tp[i]), int(n_pred[i] - tp[i]), int(y.sum() - tp[i])),
            "threshold": float(s_sorted[last][i]), "rule": ">="}


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
POT_MIN_EXCESSES = 10   # fewer peaks than this cannot fit a tail


def pot_threshold(calibration: np.ndarray, q: float = 1e-3, level: float = 0.98) -> dict:
    """Peaks over threshold (Siffer et al., KDD 2017): the score exceeded with probability `q`.

    The excesses of `calibration` scores over their `level` quantile t are fitted
    with a generalised Pareto distribution (scipy's maximum-likelihood
    `genpareto.fit`, location fixed at 0); the threshold is the GPD tail
    quantile t + (sigma / xi) * ((q n / n_t) ** -xi - 1) (xi = 0: t - sigma
    log(q n / n_t)). With fewer than `POT_MIN_EXCESSES` scores above t there is
    no tail to fit: the threshold is t itself, and `method` says so.

    Returns `{"threshold", "method": "pot" | "quantile (fallback)", "n_excess", "n_calibration"}`.
    """
    x = np.asarray(calibration, dtype=np.float64)
    t = float(np.quantile(x, level))
    excess = x[x > t] - t
    out = {"n_excess": int(excess.size), "n_calibration": int(x.size)}
    if excess.size < POT_MIN_EXCESSES:
        return {"threshold": t, "method": "quantile (fallback)", **out}
    xi, _, sigma = genpareto.fit(excess, floc=0)
    r = q * x.size / excess.size
    th = t - sigma * np.log(r) if abs(xi) < 1e-8 else t + sigma / xi * (r ** -xi - 1)
    return {"threshold": float(th), "method": "pot", **out}


def quantile_threshold(calibration: np.ndarray, level: float = 0.99) -> float:
    """The `level` quantile of the calibration scores."""
    return float(np.quantile(np.asarray(calibration, dtype=np.float64), level))
