"""Sanity baselines, scored through the same windows and metrics as the trained model.

Each sees every window flattened to `[L * N]` (the first channel, as the
models see it), is fitted on training windows only, and gives one score per
window, higher = more anomalous, and per-feature scores `[W, N]` where the
method has them (for root-cause HitRate):

- `random`: uniform noise from a fixed seed, and an independent random
  feature ranking. Point adjustment lets it look good; the threshold-free
  metrics should not.
- `pca`: squared reconstruction error from scikit-learn's PCA keeping 95 %
  of the training variance; a feature's score is its share of that error.
- `iforest`: scikit-learn's IsolationForest, the negated `score_samples`. It
  scores whole windows, so it has no feature ranking.

Adding one is one function decorated with `@register_baseline`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest

from lib.data.windows import gather_windows, window_starts

# A scorer gets the training windows `[W, L, N]`, the windows to score (a list of `[W_i, L, N]`) and
# the seed; per scored series it returns window scores `[W_i]` and feature scores `[W_i, N]` or None.
Scored = tuple[np.ndarray, "np.ndarray | None"]
Scorer = Callable[[np.ndarray, list[np.ndarray], int], list[Scored]]
BASELINES: dict[str, Scorer] = {}
FIT_WINDOWS = 20_000   # evenly spaced training windows are plenty for these models


def register_baseline(name: str) -> Callable[[Scorer], Scorer]:
    def add(fn: Scorer) -> Scorer:
        BASELINES[name] = fn
        return fn
    return add


def series_windows(series: torch.Tensor, window_size: int, max_windows: int = 0) -> np.ndarray:
    """series `[T, N, C]` -> every sliding window's first channel: `[W, L, N]`."""
    starts = torch.as_tensor(window_starts(series.shape[0], window_size, max_windows))
    return gather_windows(series[..., :1].cpu(), starts, window_size)[..., 0].double().numpy()


def baseline_scores(name: str, train: torch.Tensor, others: list[torch.Tensor], cfg) -> list[Scored]:
    """Fit baseline `name` on `train` windows; for each series in `others`, its window scores
    `[W_i]` and feature scores `[W_i, N]` (None where the baseline has no feature ranking)."""
    fit = series_windows(train, cfg.window_size, FIT_WINDOWS)
    return BASELINES[name](fit, [series_windows(s, cfg.window_size) for s in others], cfg.seed)


def flatten(windows: np.ndarray) -> np.ndarray:
    """`[W, L, N]` -> `[W, L * N]`, the vectors the scikit-learn models see."""
    return windows.reshape(len(windows), -1)


@register_baseline("random")
def random_scores(fit: np.ndarray, windows: list[np.ndarray], seed: int) -> list[Scored]:
    rng = np.random.default_rng(seed)
    scores = [rng.random(len(w)) for w in windows]
    # A separate stream, so that the window scores do not depend on the feature ranking.
    ranks = np.random.default_rng(seed + 1)
    return [(s, ranks.random((len(w), w.shape[2]))) for s, w in zip(scores, windows)]


@register_baseline("pca")
def pca_error(fit: np.ndarray, windows: list[np.ndarray], seed: int) -> list[Scored]:
    pca = PCA(n_components=0.95, svd_solver="full").fit(flatten(fit))
    out = []
    for w in windows:
        err = (flatten(w) - pca.inverse_transform(pca.transform(flatten(w)))) ** 2   # [W, L * N]
        out.append((err.mean(axis=1), err.reshape(w.shape).mean(axis=1)))
    return out


@register_baseline("iforest")
def isolation_forest(fit: np.ndarray, windows: list[np.ndarray], seed: int) -> list[Scored]:
    forest = IsolationForest(n_estimators=100, random_state=seed).fit(flatten(fit))
    return [(-forest.score_samples(flatten(w)), None) for w in windows]
