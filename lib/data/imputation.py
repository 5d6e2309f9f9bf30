"""Imputation data: any registered dataset's series, split, standard-scaled on the training
part, cut into windows `[n, n_steps, N]`, with artificial gaps made by pygrinder.

Splits: ETT's standard 12 / 4 / 4 months (train / validation / test). Other datasets, with
`--imp_series train` (the default): their training series alone, 60 / 20 / 20 % in time, so no
anomaly is scored as a value to recover; with `both`: the training series (the last
`val_ratio` as validation) and the test series.
Values already missing in the data (NaN) stay missing and are never scored.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lib.data.readers import ett_month
from lib.data.registry import read_dataset
from lib.data.windows import split_train_val
from lib.config import choices_of
from lib.errors import UserError

PATTERNS = choices_of("missing_pattern")


@dataclass
class ImputationData:
    """Scaled series `[T_part, N]` of each part, their feature names and where they came from."""
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    names: list[str]
    source: str
    mean: np.ndarray   # [N] the training part's statistics, for undoing the scaling
    std: np.ndarray


def imputation_splits(cfg) -> ImputationData:
    """`cfg.data` (and `--entity`) as train / validation / test series, standard-scaled on train."""
    raw = read_dataset(cfg)
    train, test = (np.where(np.isfinite(a), a, np.nan).astype(np.float64) for a in (raw.train, raw.test))
    if cfg.data.startswith("ETT"):
        val, test = test[: 4 * ett_month(cfg.data)], test[4 * ett_month(cfg.data):]
    elif cfg.imp_series == "train":
        cut = [int(0.6 * train.shape[0]), int(0.8 * train.shape[0])]
        train, val, test = train[: cut[0]], train[cut[0]: cut[1]], train[cut[1]:]
    else:
        train, val = split_train_val(train, cfg.val_ratio)
    dead = np.flatnonzero(np.isnan(train).all(axis=0))
    if dead.size:
        raise UserError(f"{raw.source}: feature(s) {', '.join(raw.names[i] for i in dead[:5])} are missing in every "
                        f"training step")
    mean, std = standard_stats(train)
    scale = lambda a: ((a - mean) / std).astype(np.float32)
    return ImputationData(scale(train), scale(val), scale(test), raw.names, raw.source, mean, std)


def standard_stats(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std `[N]` of the observed training values `[T, N]`; a constant
    feature gets std 1, so it scales to 0 rather than to NaN."""
    mean, std = np.nanmean(train, axis=0), np.nanstd(train, axis=0)
    return mean, np.where(std > 0, std, 1.0)


def to_windows(series: np.ndarray, n_steps: int) -> np.ndarray:
    """`[T, N]` -> consecutive non-overlapping windows `[T // n_steps, n_steps, N]` (the tail is dropped)."""
    n = series.shape[0] // n_steps
    if n < 1:
        raise UserError(f"a series of {series.shape[0]} steps has no window of {n_steps}")
    return series[: n * n_steps].reshape(n, n_steps, series.shape[1])


def evenly_spaced(windows: np.ndarray, cap: int) -> np.ndarray:
    """At most `cap` of `windows` `[n, ...]`, evenly spaced over the whole series (0 = all)."""
    # Truncated positions, where lib/data/windows.py window_starts rounds its sliding starts: the
    # recorded imputation cells were drawn this way, so the two stay apart rather than shift them.
    if not cap or len(windows) <= cap:
        return windows
    return windows[np.linspace(0, len(windows) - 1, cap).astype(int)]


def add_gaps(X: np.ndarray, rate: float, pattern: str, seed: int) -> np.ndarray:
    """A copy of `X` `[n, T, N]` with artificial gaps (NaN), as pygrinder makes them: `point`,
    missing completely at random; `subseq`, runs of T // 4 steps in single features;
    `block`, blocks of T // 4 steps across N // 2 + 1 features. pygrinder's block `factor` is
    not the missing rate, so it is searched (bisection, same seed) until the share of new
    gaps is `rate` to within 1 %."""
    from pygrinder import block_missing, mcar, seq_missing   # only here: it loads torch-side packages

    if not 0 < rate < 1:
        raise UserError(f"--missing_rate must lie in (0, 1), got {rate}")
    if pattern not in PATTERNS:
        raise UserError(f"--missing_pattern {pattern!r}; known: {', '.join(PATTERNS)}")
    np.random.seed(seed)   # pygrinder draws from numpy's global generator
    T, N = X.shape[1:]
    if pattern == "point":
        return mcar(X, rate)
    if pattern == "subseq":
        return seq_missing(X, rate, seq_len=max(1, T // 4))
    def blocks(factor: float) -> np.ndarray:
        np.random.seed(seed)
        return block_missing(X, factor=factor, block_len=max(1, T // 4), block_width=N // 2 + 1)

    out = blocks(rate)
    lo, hi = (0.0, rate) if np.isnan(out).mean() - np.isnan(X).mean() > rate else (rate, 1.0)
    for _ in range(20):
        got = np.isnan(out).mean() - np.isnan(X).mean()
        if abs(got - rate) <= 0.01 * rate:
            break
        lo, hi = (lo, (lo + hi) / 2) if got > rate else ((lo + hi) / 2, hi)
        out = blocks((lo + hi) / 2)
    return out


def add_series_gaps(series: np.ndarray, rate: float, pattern: str, seed: int, n_steps: int) -> np.ndarray:
    """`add_gaps` on a whole series `[T, N]`, window by window of `n_steps` (so blocks and runs keep
    their window-sized length); a tail shorter than a window keeps its values."""
    k = series.shape[0] // n_steps
    out = series.astype(np.float64, copy=True)
    out[: k * n_steps] = add_gaps(to_windows(out, n_steps), rate, pattern, seed).reshape(k * n_steps, -1)
    return out


def masked_errors(imputed: np.ndarray, truth: np.ndarray, holes: np.ndarray) -> dict[str, float]:
    """MAE, MSE and MRE over the artificially masked entries only (`holes` true), on scaled values.
    MRE is the summed absolute error over the summed absolute truth (PyPOTS's definition)."""
    if not holes.any():
        raise UserError("no artificially masked entries to score")
    err, ref = imputed[holes] - truth[holes], truth[holes]
    return {"mae": float(np.abs(err).mean()), "mse": float((err ** 2).mean()),
            "mre": float(np.abs(err).sum() / np.abs(ref).sum())}
