"""Forecasting data: the standard long-horizon protocol (Informer, Autoformer, DLinear,
PatchTST, Time-LLM, LLM-PS).

Splits: ETT's 12 / 4 / 4 months (train / validation / test); any other dataset's
training series 70 / 10 / 20 % in time (Autoformer's "custom" loader). Validation and
test start `seq_len` steps early, so their first window's input lies in the part before.
Standard scaling fitted on the training part. Windows of stride 1, channel independent:
one sample per (start, channel), input `[seq_len]`, target `[pred_len]`; a batch holds
whole windows, every channel of each. Validation and
test keep every window (no `drop_last`). `--percent P` keeps the first P % of the
training windows (few-shot, as Time-LLM and LLM-PS define it); the scaler still sees the
whole training part, as theirs does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lib.data.imputation import standard_stats
from lib.data.readers import ett_month
from lib.data.registry import read_dataset
from lib.errors import UserError


@dataclass
class ForecastSplits:
    """Scaled series `[T_part, N]` of each part (validation and test include the `seq_len`
    steps before them), their names and source, and the training statistics `[N]`."""
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    names: list[str]
    source: str
    mean: np.ndarray
    std: np.ndarray


def part_borders(name: str, T: int, seq_len: int, percent: int) -> list[tuple[int, int]]:
    """[(start, end)] of train, validation and test in a series of `T` steps."""
    if name.startswith("ETT"):
        m = ett_month(name)
        ends = [12 * m, 16 * m, 20 * m]
    else:
        n_train, n_test = int(T * 0.7), int(T * 0.2)
        ends = [n_train, T - n_test, T]
    starts = [0, ends[0] - seq_len, ends[1] - seq_len]
    if percent < 100:   # the first `percent` % of the training windows
        ends[0] = (ends[0] - seq_len) * percent // 100 + seq_len
    return list(zip(starts, ends))


def forecast_splits(cfg) -> ForecastSplits:
    """`cfg.data` as scaled train / validation / test series for `--seq_len` and `--percent`."""
    raw = read_dataset(cfg)
    series = np.concatenate([raw.train, raw.test]) if cfg.data.startswith("ETT") else np.asarray(raw.train)
    series = series.astype(np.float64)
    if not np.isfinite(series).all():
        raise UserError(f"{raw.source}: {int((~np.isfinite(series)).sum())} NaN/inf values; forecasting needs a "
                        "complete series (fill it first, e.g. with impute.py)")
    borders = part_borders(cfg.data, series.shape[0], cfg.seq_len, cfg.percent)
    whole_train_end = part_borders(cfg.data, series.shape[0], cfg.seq_len, 100)[0][1]
    mean, std = standard_stats(series[:whole_train_end])
    parts = [((series[s:e] - mean) / std).astype(np.float32) for s, e in borders]
    for part, arr in zip(("train", "validation", "test"), parts):
        if n_windows(arr.shape[0], cfg.seq_len, cfg.pred_len) < 1:
            raise UserError(f"{raw.source}: the {part} part has {arr.shape[0]} steps, fewer than --seq_len "
                            f"{cfg.seq_len} + --pred_len {cfg.pred_len}")
    return ForecastSplits(*parts, raw.names, raw.source, mean, std)


def n_windows(T: int, seq_len: int, pred_len: int) -> int:
    """Stride-1 windows of input `seq_len` and target `pred_len` in `T` steps."""
    return T - seq_len - pred_len + 1


def forecast_batches(series: torch.Tensor, seq_len: int, pred_len: int, batch_size: int,
                     order: torch.Tensor | None = None):
    """Yield `(x [B*N, seq_len], y [B*N, pred_len])`: `batch_size` windows of `series` `[T, N]`
    with every channel of each, as the multivariate loaders of DLinear and PatchTST batch them,
    flattened channel independent (row b*N + n is window b's channel n). `order` (a
    permutation of the window starts) shuffles them; every window comes once (no drop_last)."""
    T, N = series.shape
    W = n_windows(T, seq_len, pred_len)
    starts = torch.arange(W) if order is None else order
    steps = torch.arange(seq_len + pred_len)
    for i in range(0, starts.numel(), batch_size):
        rows = starts[i:i + batch_size, None] + steps            # [B, L + H]
        windows = series[rows].permute(0, 2, 1).reshape(-1, seq_len + pred_len)   # [B*N, L + H]
        yield windows[:, :seq_len], windows[:, seq_len:]
