"""From the models' errors to anomaly scores: pure numpy, in the order of STAMP's
`get_final_result`: per-(step, feature) normalisation of absolute errors -> trailing
mean over 4 windows -> aggregation over the window's scored steps -> alpha/beta/gamma
combination -> sum of the top-k features.
"""
from __future__ import annotations

import numpy as np

from lib.score.branch_errors import BRANCHES

EPS = 1e-2  # as STAMP: keeps a near-constant error from exploding its normalised score


def norm_stats(err: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """Per (scored step, feature) centre and spread of `err` `[W, S, N]` -> two `[S, N]`
    (std: mean and population std, STAMP's option 2; iqr: median and IQR, its option 1)."""
    if how == "iqr":
        q25, q50, q75 = np.percentile(err, [25, 50, 75], axis=0)
        return q50, q75 - q25
    return err.mean(axis=0), err.std(axis=0)


def normalise(err: np.ndarray, centre: np.ndarray, spread: np.ndarray) -> np.ndarray:
    return (err - centre) / (np.abs(spread) + EPS)


def smooth(x: np.ndarray, k: int) -> np.ndarray:
    """Trailing mean over the last `k` windows (axis 0); the first k-1 windows are left as they are."""
    if k <= 1 or x.shape[0] < k:
        return x
    csum = np.cumsum(x, axis=0)
    out = x.copy()
    out[k - 1:] = (csum[k - 1:] - np.concatenate([np.zeros_like(x[:1]), csum[:-k]])) / k
    return out


def aggregate_horizon(x: np.ndarray, how: str) -> np.ndarray:
    """`[W, S, N]` -> `[W, N]` by max, sum or mean over the S scored steps."""
    return {"max": np.max, "sum": np.sum, "mean": np.mean}[how](x, axis=1)


def topk_sum(x: np.ndarray, k: int) -> np.ndarray:
    """Sum of the k largest feature scores per window: `[W, N]` -> `[W]`."""
    k = min(k, x.shape[1])
    return np.sort(x, axis=1)[:, -k:].sum(axis=1)


def feature_scores(test_err: dict[str, np.ndarray], ref_err: dict[str, np.ndarray], cfg,
                   score_agg: str | None = None) -> dict[str, np.ndarray]:
    """Per-window, per-feature scores `[W, N]` of each branch and of their mix.

    `ref_err` supplies the normalisation statistics: the test errors themselves
    for STAMP's score (`--norm_source test`), the validation errors for any
    score a label-free threshold is applied to.
    """
    agg = score_agg or cfg.score_agg
    weights = {"pred": cfg.test_alpha, "recon": cfg.test_beta, "adv": cfg.test_gamma}
    out = {}
    for k in BRANCHES:
        centre, spread = norm_stats(ref_err[k], cfg.score_norm)
        out[k] = aggregate_horizon(smooth(normalise(test_err[k], centre, spread), cfg.smooth), agg)
    out["combined"] = sum(weights[k] * out[k] for k in BRANCHES if weights[k] != 0)
    return out


def window_scores(test_err: dict[str, np.ndarray], ref_err: dict[str, np.ndarray], cfg,
                  score_agg: str | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The anomaly score of every test window `[W]`, with the feature scores behind it."""
    feats = feature_scores(test_err, ref_err, cfg, score_agg)
    return topk_sum(feats["combined"], cfg.topk), feats
