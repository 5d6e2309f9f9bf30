"""Sanity checks applied to every dataset after reading, whatever its format."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from lib.data.types import RawData
from lib.errors import UserError

log = logging.getLogger("llm_tsad")


def carry_forward(series: np.ndarray) -> np.ndarray:
    """`[T, N]` with NaN/inf -> each gap takes the last observed value (the first one, before it);
    a feature with no value at all stays NaN."""
    df = pd.DataFrame(np.where(np.isfinite(series), series, np.nan))
    return df.ffill().bfill().to_numpy(dtype=np.float64)


def _fill_non_finite(x: np.ndarray) -> np.ndarray:
    """Forward-fill, then back-fill, then zero: gaps take the last seen value."""
    return np.nan_to_num(carry_forward(x), nan=0.0)


def handle_non_finite(x: np.ndarray, what: str, policy: str) -> np.ndarray:
    """Refuse or fill NaN/inf values in `x` `[T, N]`, saying how many."""
    bad = int((~np.isfinite(x)).sum())
    if bad == 0:
        return x
    if policy == "refuse":
        raise UserError(f"{what}: {bad} NaN/inf values (use --nan_policy fill to forward-fill them)")
    log.warning("%s: filled %d NaN/inf values (forward fill, then back fill, then 0)", what, bad)
    return _fill_non_finite(x)


def check_raw(raw: RawData, policy: str) -> RawData:
    """Validate shapes, labels and values of a freshly read dataset."""
    src = raw.source
    for part, arr in (("train", raw.train), ("test", raw.test)):
        if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
            raise UserError(f"{src}: {part} data must be a non-empty [time, features] table, got shape {arr.shape}")
    if raw.train.shape[1] != raw.test.shape[1]:
        raise UserError(f"{src}: train has {raw.train.shape[1]} features but test has {raw.test.shape[1]}")
    if raw.labels.shape != (raw.test.shape[0],):
        raise UserError(f"{src}: {raw.labels.shape[0]} labels for {raw.test.shape[0]} test rows")
    labels = np.asarray(raw.labels, dtype=np.float64)
    if not np.isfinite(labels).all() or not np.isin(labels, (0.0, 1.0)).all():
        raise UserError(f"{src}: labels must be 0 or 1")
    train = handle_non_finite(np.asarray(raw.train, dtype=np.float64), f"{src} train", policy)
    test = handle_non_finite(np.asarray(raw.test, dtype=np.float64), f"{src} test", policy)
    const = np.flatnonzero(np.ptp(train, axis=0) == 0)
    if const.size:
        names = [raw.names[i] for i in const[:5]]
        log.warning("%s: %d constant train column(s) (%s%s); they scale to 0", src, const.size,
                    ", ".join(names), ", ..." if const.size > 5 else "")
    return RawData(train=train, test=test, labels=labels.astype(np.int64), names=raw.names,
                   source=src, interpretation=raw.interpretation)
