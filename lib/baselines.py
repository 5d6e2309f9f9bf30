"""Sanity baselines, scored through the same windows and metrics as the trained model.

Each sees every window flattened to `[L * N]` (the first channel, as the
models see it), is fitted on training windows only, and gives one score per
window, higher = more anomalous:

- `random`: uniform noise from a fixed seed. Point adjustment lets it look
  good; the threshold-free metrics should not.
- `pca`: squared reconstruction error from scikit-learn's PCA keeping 95 %
  of the training variance.
- `iforest`: scikit-learn's IsolationForest, the negated `score_samples`.

Adding one is one function decorated with `@register_baseline`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest

from lib.data.windows import gather_windows, window_starts

Scorer = Callable[[np.ndarray, list[np.ndarray], int], list[np.ndarray]]
BASELINES: dict[str, Scorer] = {}
FIT_WINDOWS = 20_000   # evenly spaced training windows are plenty for these models


def register_baseline(name: str) -> Callable[[Scorer], Scorer]:
    def add(fn: Scorer) -> Scorer:
        BASELINES[name] = fn
        return fn
    return add


def flat_windows(series: torch.Tensor, window_size: int, max_windows: int = 0) -> np.ndarray:
    """series `[T, N, C]` -> every sliding window's first channel, flattened: `[W, L * N]`."""
    starts = torch.as_tensor(window_starts(series.shape[0], window_size, max_windows))
    return gather_windows(series[..., :1].cpu(), starts, window_size).reshape(len(starts), -1).double().numpy()


def baseline_scores(name: str, train: torch.Tensor, others: list[torch.Tensor], cfg) -> list[np.ndarray]:
    """Fit baseline `name` on `train` windows; window scores `[W_i]` for each series in `others`."""
    fit = flat_windows(train, cfg.window_size, FIT_WINDOWS)
    return BASELINES[name](fit, [flat_windows(s, cfg.window_size) for s in others], cfg.seed)


@register_baseline("random")
def random_scores(fit: np.ndarray, windows: list[np.ndarray], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random(len(w)) for w in windows]


@register_baseline("pca")
def pca_error(fit: np.ndarray, windows: list[np.ndarray], seed: int) -> list[np.ndarray]:
    pca = PCA(n_components=0.95, svd_solver="full").fit(fit)
    return [((w - pca.inverse_transform(pca.transform(w))) ** 2).mean(axis=1) for w in windows]


@register_baseline("iforest")
def isolation_forest(fit: np.ndarray, windows: list[np.ndarray], seed: int) -> list[np.ndarray]:
    forest = IsolationForest(n_estimators=100, random_state=seed).fit(fit)
    return [-forest.score_samples(w) for w in windows]
