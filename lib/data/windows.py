"""Pure preprocessing: arrays in, arrays out, no I/O.

Order of operations (as STAMP): down-sample -> min-max fit on train ->
moving-average channels -> chronological train/val split -> sliding windows.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from lib.utils import progress


def downsample(x: np.ndarray, down_len: int, is_label: bool = False) -> np.ndarray:
    """Blocks of `down_len` steps: the median of features, the max of labels.

    x: `[T, N]` or `[T]` -> `[ceil(T / down_len), ...]` (the last block may be short).
    """
    if down_len <= 1:
        return x
    T = x.shape[0]
    n_blocks = -(-T // down_len)
    pad = n_blocks * down_len - T
    blocks = np.concatenate([x, np.full((pad,) + x.shape[1:], np.nan)]) if pad else x.astype(np.float64)
    blocks = blocks.reshape((n_blocks, down_len) + x.shape[1:])
    out = np.nanmax(blocks, axis=1) if is_label else np.nanmedian(blocks, axis=1)
    return out.astype(x.dtype)


def fit_minmax(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature (min, range) of `train` `[T, N]`. A constant column gets
    range 1, so it scales to 0 rather than to NaN."""
    lo = train.min(axis=0)
    rng = train.max(axis=0) - lo
    return lo, np.where(rng > 0, rng, 1.0)


def apply_minmax(x: np.ndarray, lo: np.ndarray, rng: np.ndarray, clip: bool = False) -> np.ndarray:
    out = (x - lo) / rng
    return np.clip(out, 0.0, 1.0) if clip else out


def moving_averages(x: np.ndarray, windows: list[int]) -> np.ndarray:
    """Trailing moving averages `[T, N, len(windows)]` of `x` `[T, N]`.

    Causal: step t averages steps t-w+1..t; the first w-1 steps average what
    exists so far, so no step is dropped and no future value is used.
    """
    csum = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), x]), axis=0)
    t = np.arange(1, x.shape[0] + 1)
    outs = []
    for w in windows:
        start = np.maximum(t - w, 0)
        outs.append((csum[t] - csum[start]) / (t - start)[:, None])
    return np.stack(outs, axis=-1)


def add_channels(x: np.ndarray, mas: list[int] | None) -> np.ndarray:
    """`[T, N]` -> `[T, N, C]`: the value, then its moving averages when `mas` is given."""
    if not mas:
        return x[:, :, None]
    return np.concatenate([x[:, :, None], moving_averages(x, mas)], axis=-1)


def split_train_val(series: np.ndarray, val_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Chronological split: the last `val_ratio` of the steps is validation."""
    cut = int(np.floor((1.0 - val_ratio) * series.shape[0]))
    return series[:cut], series[cut:]


def n_windows(T: int, window_size: int) -> int:
    return max(T - window_size + 1, 0)


def window_starts(T: int, window_size: int, max_windows: int = 0, offset: float | None = None) -> np.ndarray:
    """Start index of every sliding window (stride 1), or `max_windows` of them evenly spaced.

    Without `offset` the spaced windows run from the first to the last start. With `offset` in
    [0, 1) (a training epoch's own draw) the i-th window starts at floor((i + offset) * n / m),
    so each epoch sees other windows, still one in every n / m.
    """
    starts = np.arange(n_windows(T, window_size))
    n = starts.size
    if max_windows and n > max_windows:
        if offset is None:
            return starts[np.linspace(0, n - 1, max_windows).round().astype(np.int64)]
        return starts[np.floor((np.arange(max_windows) + offset) * (n / max_windows)).astype(np.int64)]
    return starts


def last_windows(series, window_size: int, count: int):
    """The tail of `series` `[T, ...]` holding its last `count` consecutive windows (all when 0)."""
    if not count or n_windows(series.shape[0], window_size) <= count:
        return series
    return series[series.shape[0] - (count + window_size - 1):]


def window_labels(labels: np.ndarray, window_size: int) -> np.ndarray:
    """STAMP's window labels: window i (steps i..i+L-1) is anomalous when any of its steps is.
    `[T]` -> `[T - L + 1]`."""
    lab = np.asarray(labels).astype(np.int64)
    W = n_windows(lab.size, window_size)
    csum = np.concatenate([[0], np.cumsum(lab > 0)])
    return (csum[window_size:window_size + W] - csum[:W] > 0).astype(np.int64)


def gather_windows(series: torch.Tensor, starts: torch.Tensor, window_size: int) -> torch.Tensor:
    """series `[T, N, C]`, starts `[B]` -> windows `[B, L, N, C]` (a copy)."""
    idx = starts[:, None] + torch.arange(window_size, device=series.device)[None, :]
    return series[idx]


def window_to_time(window_scores: np.ndarray, window_size: int, T: int) -> np.ndarray:
    """Per-window scores `[W, ...]` -> per-step scores `[T, ...]`.

    Window i covers steps i..i+L-1 and is scored on its last steps, so its
    score belongs to step i+L-1. The first L-1 steps, which end no window,
    take the first window's score.
    """
    W = window_scores.shape[0]
    if W != n_windows(T, window_size):
        raise ValueError(f"{W} window scores do not match T={T}, L={window_size}")
    head = np.repeat(window_scores[:1], window_size - 1, axis=0)
    return np.concatenate([head, window_scores], axis=0)


def upsample(x: np.ndarray, down_len: int, T: int) -> np.ndarray:
    """Undo `downsample` for scores: each block's value is repeated over its steps, `[T, ...]`."""
    if down_len <= 1:
        return x[:T]
    return np.repeat(x, down_len, axis=0)[:T]


def epoch_starts(T: int, cfg, shuffle: bool, epoch: int = 0, max_windows: int = 0) -> np.ndarray:
    """The window starts one pass uses. A training pass (`shuffle`) capped at `max_windows`
    takes them evenly spaced from an offset drawn from (seed, epoch), so every epoch sees other
    windows and a resumed run the same ones; an evaluation pass takes the fixed spacing."""
    offset = np.random.default_rng([cfg.seed, epoch]).random() if shuffle else None
    return window_starts(T, cfg.window_size, max_windows, offset)


def iterate_windows(series: torch.Tensor, cfg, shuffle: bool, epoch: int = 0, max_windows: int = 0,
                    batch_size: int = 0, shard: tuple[int, int] = (0, 1)):
    """Yield batches `[B, L, N, C]` of sliding windows of `series` `[T, N, C]`
    (`batch_size` windows, default `cfg.batch_size`), from `epoch_starts`.

    Shuffling uses its own generator seeded by (seed, epoch), so the batch
    order of an epoch is the same whether or not the run was resumed.
    `shard=(rank, world)` keeps every world-th window from the rank-th on,
    after dropping the remainder, so every process runs as many batches.
    """
    starts = torch.from_numpy(epoch_starts(series.shape[0], cfg, shuffle, epoch, max_windows))
    if shuffle:
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        starts = starts[torch.randperm(starts.numel(), generator=gen)]
    rank, world = shard
    if world > 1:
        starts = starts[: starts.numel() // world * world][rank::world]
    step = batch_size or cfg.batch_size
    for i in range(0, starts.numel(), step):
        yield gather_windows(series, starts[i:i + step].to(series.device), cfg.window_size)


def window_bar(series: torch.Tensor, cfg, desc: str, shuffle: bool = False, epoch: int = 0, max_windows: int = 0,
               batch_size: int = 0, shard: tuple[int, int] = (0, 1)) -> tqdm:
    """`iterate_windows` behind `progress`, reported by the first process only."""
    rank, world = shard
    n = len(window_starts(series.shape[0], cfg.window_size, max_windows)) // world
    total = -(-n // (batch_size or cfg.batch_size))
    return progress(iterate_windows(series, cfg, shuffle, epoch, max_windows, batch_size, shard), total, desc,
                    shown=rank == 0)


def split_batch(batch: torch.Tensor, cfg) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """batch `[B, L, N, C]` -> context `[B, L-H, N, C]`, target `[B, H, N]`, window `[B, L, N]`."""
    return batch[:, : cfg.context_len], batch[:, cfg.context_len:, :, 0], batch[..., 0]


def complete(window: torch.Tensor, forecast: torch.Tensor) -> torch.Tensor:
    """The window `[B, L, N]` with its last H steps replaced by `forecast` `[B, H, N]`."""
    return torch.cat([window[:, : window.shape[1] - forecast.shape[1]], forecast], dim=1)
