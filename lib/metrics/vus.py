"""Volume under the range-based ROC and PR surfaces (VUS-ROC, VUS-PR).

Paparrizos et al., VLDB 2022, as TSB-AD 1.5 computes them (its
`get_metrics(..., version="opt", thre=250)`); a test checks our figures
against TSB-AD's own outputs to 1e-6. For a buffer length w = 0 .. W:

- each anomaly segment is widened by w // 2 points on both sides, a buffer
  point at distance d weighing sqrt(1 - d / w) (overlaps add, capped at 1);
- at each of 250 thresholds (taken from the sorted scores), true positives
  are the predicted anomaly points plus the weight of predicted buffer
  points; recall is scaled by the share of widened regions hit at all;
- the ROC curve is integrated by trapezoids over FPR, the PR curve as a
  step sum over TPR;

and VUS is the mean over the W + 1 buffer lengths. W comes from the data's
dominant period (`find_period`, TSB-AD's `find_length_rank`) unless given.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import argrelextrema

from lib.metrics.counts import segments

N_THRESHOLDS = 250
DEFAULT_PERIOD = 125          # TSB-AD's fallback when no period stands out


def vus(score: np.ndarray, label: np.ndarray, window: int) -> dict[str, float]:
    """`{"vus_roc", "vus_pr"}` of a per-step score `[T]` against 0/1 labels `[T]`, buffers up to `window`.

    Needs both classes (NaN otherwise, like the AUCs).
    """
    score = np.asarray(score, dtype=np.float64)
    y = np.asarray(label).astype(bool)
    if y.all() or not y.any():
        return {"vus_roc": float("nan"), "vus_pr": float("nan")}
    thresholds = _thresholds(score)
    n_pred = _count_at_least(np.sort(score), thresholds)                        # [K]
    anomaly_hits = _count_at_least(np.sort(score[y]), thresholds)               # [K]
    segs = segments(y)
    surfaces = [_range_curves(score, y, segs, w, thresholds, n_pred, anomaly_hits) for w in range(window + 1)]
    roc, pr = np.mean(surfaces, axis=0)
    return {"vus_roc": float(roc), "vus_pr": float(pr)}


def _thresholds(score: np.ndarray) -> np.ndarray:
    """250 thresholds from the highest score down to the lowest, at evenly spaced ranks.

    The ranks are truncated float positions (`linspace(...).astype(int)`), not
    exact integer division: the two differ for some lengths, and the reference
    uses the former.
    """
    ranks = np.linspace(0, score.size - 1, N_THRESHOLDS).astype(int)
    return np.sort(score)[::-1][ranks]


def _count_at_least(sorted_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many of `sorted_values` (ascending) are >= each threshold."""
    return sorted_values.size - np.searchsorted(sorted_values, thresholds, side="left")


def _weight_at_least(values: np.ndarray, weights: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Sum of `weights` over the `values` >= each threshold."""
    order = np.argsort(values)
    cum = np.concatenate([[0.0], np.cumsum(weights[order][::-1])])             # weight of the top j values
    return cum[_count_at_least(values[order], thresholds)]


def soft_labels(y: np.ndarray, segs: list[tuple[int, int]], w: int) -> np.ndarray:
    """Labels `[T]` with each segment widened by w // 2 points per side, weight sqrt(1 - d / w)
    at distance d; overlapping buffers add up, capped at 1. `segs`: (start, end) end-exclusive."""
    ext = y.astype(np.float64)
    h, n = w // 2, y.size
    if h:
        weight = np.sqrt(1 - np.arange(1, h + 1) / w)                          # [h] for d = 1..h
        for s, e in segs:
            right = np.arange(e, min(e + h, n))                                  # d = 1.. after the last point
            left = np.arange(s - 1, max(s - h, 0) - 1, -1)                       # d = 1.. before the first
            ext[right] += weight[: right.size]
            ext[left] += weight[: left.size]
    return np.minimum(ext, 1.0)


def widened_regions(segs: list[tuple[int, int]], h: int, n: int) -> list[tuple[int, int]]:
    """Segments widened by h per side, merged where they touch: (first, last) inclusive."""
    regions, start = [], max(segs[0][0] - h, 0)
    for (_, e), (s_next, _) in zip(segs[:-1], segs[1:]):
        if e - 1 + h < s_next - h:
            regions.append((start, e - 1 + h))
            start = s_next - h
    regions.append((start, min(segs[-1][1] - 1 + h, n - 1)))
    return regions


def _range_curves(score: np.ndarray, y: np.ndarray, segs: list[tuple[int, int]], w: int, thresholds: np.ndarray,
                  n_pred: np.ndarray, anomaly_hits: np.ndarray) -> tuple[float, float]:
    """Area under the range-based ROC curve and the range-based average precision for buffer w."""
    n, P = y.size, int(y.sum())
    ext = soft_labels(y, segs, w)
    buffer = ~y & (ext > 0)
    B = _weight_at_least(score[buffer], ext[buffer], thresholds)                # predicted buffer weight [K]
    tp = anomaly_hits + B
    regions = widened_regions(segs, w // 2, n)
    region_max = np.sort([score[a:b + 1].max() for a, b in regions])
    existence = _count_at_least(region_max, thresholds) / len(regions)
    positives = P + B / 2
    tpr = np.minimum(tp / positives, 1.0) * existence
    fpr = (n_pred - tp) / (n - positives)
    precision = tp / n_pred
    tpr_c, fpr_c = np.concatenate([[0.0], tpr, [1.0]]), np.concatenate([[0.0], fpr, [1.0]])
    roc = float(np.sum(np.diff(fpr_c) * (tpr_c[1:] + tpr_c[:-1]) / 2))
    pr = float(np.sum(np.diff(np.concatenate([[0.0], tpr])) * precision))
    return roc, pr


def find_period(x: np.ndarray, max_lag: int = 400, head: int = 20_000) -> int:
    """The dominant period of a 1-D series, as TSB-AD's `find_length_rank` picks VUS's window:
    the lag (3..max_lag) of the highest strict local maximum of the autocorrelation of the
    first `head` points, if it lies in 6..303; else 125."""
    x = np.asarray(x, dtype=np.float64).ravel()[:head]
    acf = _autocorrelation(x, max_lag)[3:]
    if not np.all(np.isfinite(acf)):
        return DEFAULT_PERIOD
    peaks = argrelextrema(acf, np.greater)[0]
    if peaks.size == 0:
        return DEFAULT_PERIOD
    best = peaks[np.argmax(acf[peaks])]
    return int(best + 3) if 3 <= best <= 300 else DEFAULT_PERIOD


def _autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Biased autocorrelation of the demeaned series at lags 0..min(max_lag, len - 1), by FFT."""
    d = x - x.mean()
    n = d.size
    size = 1 << int(np.ceil(np.log2(2 * n - 1)))
    f = np.fft.rfft(d, size)
    acov = np.fft.irfft(f * np.conj(f), size)[: min(max_lag, n - 1) + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return acov / acov[0]
