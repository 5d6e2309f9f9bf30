"""A deterministic synthetic multivariate series with labelled anomalies.

Features are noisy linear mixtures of a few shared periodic factors, so they
are correlated with each other. The test part continues the same process and
receives non-overlapping anomaly segments of five kinds.
"""
from __future__ import annotations

import numpy as np

ANOMALY_KINDS = ("spike", "level_shift", "contextual", "frequency", "correlation_break")
# Each kind in the words of the reasoning task (lib/data/reasoning.py's KINDS), so that a
# reasoner's explanation of an alarm can be checked; a reversed-phase stretch has no word there.
KIND_WORDS = {"spike": "spike", "level_shift": "level shift", "contextual": "", "frequency": "frequency change",
              "correlation_break": "correlation break"}
PERIODS = (24.0, 55.0, 130.0)


def _factors(t: np.ndarray, rng: np.random.Generator, phases: np.ndarray) -> np.ndarray:
    """Shared latent factors `[T, K]`: one sine per period."""
    return np.stack([np.sin(2 * np.pi * t / p + ph) for p, ph in zip(PERIODS, phases)], axis=1)


def _inject(test: np.ndarray, t: np.ndarray, mix: np.ndarray, phases: np.ndarray,
            rng: np.random.Generator, ratio: float) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, str]]]:
    """Insert anomaly segments into `test` `[T, N]`; returns data, labels, segments."""
    T, N = test.shape
    x = test.copy()
    labels = np.zeros(T, dtype=np.int64)
    std = test.std(axis=0) + 1e-6
    segments: list[tuple[int, int, int, str]] = []
    budget = int(ratio * T)
    pos = 100
    kind_i = 0
    while budget > 0 and pos < T - 100:
        kind = ANOMALY_KINDS[kind_i % len(ANOMALY_KINDS)]
        kind_i += 1
        length = 1 if kind == "spike" else int(rng.integers(20, 50))
        start = pos + int(rng.integers(50, 250))
        end = min(start + length, T - 1)
        if start >= T - 50:
            break
        f = int(rng.integers(N))
        seg = slice(start, end)
        if kind == "spike":
            x[seg, f] += 6 * std[f] * rng.choice([-1, 1])
        elif kind == "level_shift":
            x[seg, f] += 3 * std[f]
        elif kind == "contextual":
            # values stay in the normal range, but the phase is wrong for this time
            x[seg, f] = test[start - length // 2: end - length // 2, f][::-1][: end - start]
        elif kind == "frequency":
            dominant = int(np.argmax(np.abs(mix[:, f])))
            fast = np.sin(2 * np.pi * t[seg] / (PERIODS[dominant] / 4) + phases[dominant])
            x[seg, f] += mix[dominant, f] * (fast - np.sin(2 * np.pi * t[seg] / PERIODS[dominant] + phases[dominant]))
        else:  # correlation_break: same marginal values, decoupled from the other features
            x[seg, f] = rng.permutation(test[:, f])[: end - start]
        labels[seg] = 1
        segments.append((start, end - 1, f, kind))
        budget -= end - start
        pos = end
    return x, labels, segments


def make_synthetic(n_features: int = 8, train_len: int = 4000, test_len: int = 3000, seed: int = 0,
                   anomaly_ratio: float = 0.05) -> dict:
    """Return `{"train": [T1, N], "test": [T2, N], "labels": [T2], "segments": [...]}`.

    Same seed, same data: the generator owns its own RNG and touches no global state.
    """
    rng = np.random.default_rng(seed)
    K = len(PERIODS)
    phases = rng.uniform(0, 2 * np.pi, K)
    mix = rng.normal(0, 1, (K, n_features))
    offset = rng.uniform(-1, 1, n_features)
    t = np.arange(train_len + test_len, dtype=np.float64)
    series = _factors(t, rng, phases) @ mix + offset + rng.normal(0, 0.05, (t.size, n_features))
    train, test = series[:train_len], series[train_len:]
    test, labels, segments = _inject(test, t[train_len:], mix, phases, rng, anomaly_ratio)
    return {"train": train, "test": test, "labels": labels, "segments": segments}
