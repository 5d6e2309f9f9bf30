"""Data layer: registry of readers -> checks -> preprocessing -> `Prepared`.

    prepared = prepare(cfg)   # everything run.py and test.py need
"""
from __future__ import annotations

import numpy as np
import torch

from lib.data.checks import check_raw
from lib.data.gaps import LearnedFiller, fill_gaps
from lib.data.imputation import add_series_gaps
from lib.data.registry import DATASETS, get_spec, list_entities, read_dataset
from lib.data.types import Prepared, RawData
from lib.data.windows import (add_channels, apply_minmax, downsample, fit_minmax,
                              n_windows, split_train_val)
from lib.errors import UserError

__all__ = ["DATASETS", "Prepared", "RawData", "get_spec", "list_entities", "load_raw", "prepare", "preprocess"]


def load_raw(cfg) -> RawData:
    """Read and check a dataset; NaN/inf are refused or filled per `--nan_policy`."""
    return check_raw(read_dataset(cfg), cfg.nan_policy)


def load_filled(cfg, learned_filler: LearnedFiller | None = None) -> tuple[RawData, int]:
    """`load_raw`, with the gaps filled by `--impute` first (`learned_filler` serves
    `--impute llm4imp`); also the count of values filled."""
    raw = read_dataset(cfg)
    if cfg.test_missing_rate > 0:   # the robustness experiment: gaps made on purpose, in the test series only
        raw.test = add_series_gaps(raw.test, cfg.test_missing_rate, cfg.test_missing_pattern, cfg.seed, cfg.imp_steps)
    raw, filled = fill_gaps(raw, cfg, learned_filler)
    return check_raw(raw, cfg.nan_policy), filled


def preprocess(raw: RawData, cfg) -> Prepared:
    """Down-sample, scale on train only, add MAS channels, split, check sizes."""
    train = downsample(raw.train, cfg.down_len)
    test = downsample(raw.test, cfg.down_len)
    labels = downsample(raw.labels, cfg.down_len, is_label=True)
    n = train.shape[1]
    if cfg.nnodes and cfg.nnodes != n:
        raise UserError(f"{raw.source}: --nnodes {cfg.nnodes} but the data has {n} features")
    lo, rng = fit_minmax(train)
    mas = cfg.mas_list if cfg.is_mas else None
    train_c = add_channels(apply_minmax(train, lo, rng), mas)
    test_c = add_channels(apply_minmax(test, lo, rng, clip=cfg.clip_test), mas)
    tr, va = split_train_val(train_c, cfg.val_ratio)
    for part, arr in (("train", tr), ("validation", va), ("test", test_c)):
        if n_windows(arr.shape[0], cfg.window_size) < 1:
            raise UserError(f"{raw.source}: the {part} part has {arr.shape[0]} steps, fewer than "
                            f"--window_size {cfg.window_size} (after --down_len {cfg.down_len})")

    def tensor(a: np.ndarray, part: str) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        if not torch.isfinite(t).all():   # scaled by the train range, a test value can leave float32's
            raise UserError(f"{raw.source}: scaled {part} values overflow float32 (a feature whose train range "
                            "is tiny next to its test values); rescale or drop it")
        return t

    return Prepared(train=tensor(tr, "train"), val=tensor(va, "validation"), test=tensor(test_c, "test"), test_labels=labels.astype(np.int64),
                    test_labels_orig=raw.labels.astype(np.int64), names=raw.names, scaler_min=lo,
                    scaler_scale=rng, source=raw.source, interpretation=raw.interpretation, kinds=raw.kinds,
                    test_raw_first=np.asarray(raw.test[:, 0], dtype=np.float64))


def prepare(cfg, learned_filler: LearnedFiller | None = None) -> Prepared:
    """Everything run.py and test.py need, from `cfg` alone (and the learned filler, if any)."""
    raw, filled = load_filled(cfg, learned_filler)
    prepared = preprocess(raw, cfg)
    prepared.filled = filled
    return prepared
