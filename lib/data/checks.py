"""Sanity checks applied to every dataset after reading, whatever its format."""
from __future__ import annotations

import dataclasses
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


FLOAT32_MAX = float(np.finfo(np.float32).max)


def labels_01(labels: np.ndarray, src: str) -> np.ndarray:
    """Labels `[T]` as int64 0/1; anything else (text, NaN, 2) is an error showing an offending value."""
    values = pd.to_numeric(pd.Series(np.asarray(labels).ravel()), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isin(values, (0.0, 1.0)))
    if bad.size:
        raise UserError(f"{src}: labels must be 0 or 1; {bad.size} other value(s), the first in row {bad[0]}: "
                        f"{np.asarray(labels).ravel()[bad[0]]!r}")
    return values.astype(np.int64)


def check_float32_range(x: np.ndarray, what: str, names: list[str]) -> None:
    """The models compute in float32: values beyond its range would become inf, and training
    would only fail after a whole epoch. Refuse them up front, naming the column."""
    too_big = np.abs(x) > FLOAT32_MAX / 2   # half: min-max scaling subtracts two such values
    if too_big.any():
        col = int(np.flatnonzero(too_big.any(axis=0))[0])
        name = names[col] if col < len(names) else str(col)
        raise UserError(f"{what}: values up to {np.abs(x).max():.3g} in column {name}, beyond what float32 "
                        f"computes ({FLOAT32_MAX / 2:.2g}); rescale the data")


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
    labels = labels_01(raw.labels, src)
    train = handle_non_finite(np.asarray(raw.train, dtype=np.float64), f"{src} train", policy)
    test = handle_non_finite(np.asarray(raw.test, dtype=np.float64), f"{src} test", policy)
    for part, arr in (("train", train), ("test", test)):
        check_float32_range(arr, f"{src} {part}", raw.names)
    const = np.flatnonzero(np.ptp(train, axis=0) == 0)
    if const.size:
        names = [raw.names[i] for i in const[:5]]
        log.warning("%s: %d constant train column(s) (%s%s); they scale to 0", src, const.size,
                    ", ".join(names), ", ..." if const.size > 5 else "")
    return dataclasses.replace(raw, train=train, test=test, labels=labels)
