"""`--impute`: fill a raw dataset's gaps (NaN/inf) before scaling and windowing.

- `none`: leave them to `--nan_policy` (refuse, or forward-fill);
- `linear`: linear interpolation in time per feature (ends take the nearest value);
- `locf`: last observation carried forward (the start takes the first observation);
- `llm4imp`: LLM4IMP (`model/llm4imp`), trained by run.py on the training series only and
  saved beside the detector's checkpoint; test.py loads it.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from lib.data.checks import carry_forward
from lib.data.imputation import evenly_spaced, standard_stats, to_windows
from lib.data.types import RawData
from lib.errors import UserError

log = logging.getLogger("llm_tsad")
FILLERS = ("none", "linear", "locf", "llm4imp")


def fill_gaps(raw: RawData, cfg, imputer_path: Path, fit: bool) -> tuple[RawData, int]:
    """`raw` with its gaps filled by `cfg.impute`, and how many values were filled."""
    if cfg.impute == "none":
        return raw, 0
    train, test = (np.where(np.isfinite(a), a, np.nan).astype(np.float64) for a in (raw.train, raw.test))
    n = int(np.isnan(train).sum() + np.isnan(test).sum())
    dead = np.flatnonzero(np.isnan(train).all(axis=0))
    if dead.size:
        raise UserError(f"{raw.source}: feature(s) {', '.join(raw.names[i] for i in dead[:5])} have no value in the "
                        f"training series; nothing can fill them")
    if cfg.impute == "llm4imp":
        fill = llm4imp_filler(train, cfg, imputer_path, fit)
    else:
        fill = {"linear": interpolate, "locf": carry_forward}[cfg.impute]
    train, test = fill(train), fill(test)
    if n:
        log.info("%s: filled %d missing values with --impute %s", raw.source, n, cfg.impute)
    return RawData(train, test, raw.labels, raw.names, raw.source, raw.interpretation), n


def interpolate(series: np.ndarray) -> np.ndarray:
    """`[T, N]` with NaN -> linear interpolation per feature; the ends take the nearest value."""
    return pd.DataFrame(series).interpolate(method="linear", limit_direction="both").to_numpy(dtype=np.float64)


def llm4imp_filler(train: np.ndarray, cfg, path: Path, fit: bool) -> Callable[[np.ndarray], np.ndarray]:
    """Train (`fit`, on at most `--max_train_windows` windows) and save, or load, LLM4IMP on the
    training series `[T, N]`; a function that fills a series' gaps with it, window by window, in
    the original units. Windows without a gap are not sent to the model: it would change nothing."""
    from model.imputers import IMPUTERS

    mean, std = standard_stats(train)
    imputer = IMPUTERS["llm4imp"](cfg, train.shape[1])
    if fit:
        windows = to_windows(((train - mean) / std).astype(np.float32), cfg.imp_steps)
        imputer.fit({"X": evenly_spaced(windows, cfg.max_train_windows)})
        path.parent.mkdir(parents=True, exist_ok=True)
        imputer.save(str(path), overwrite=True)
    elif not path.is_file():
        raise UserError(f"no LLM4IMP imputer at {path}: train the detector with --impute llm4imp first")
    else:
        imputer.load(str(path))

    def fill(series: np.ndarray) -> np.ndarray:
        T, n = series.shape[0], cfg.imp_steps
        if T < n:
            raise UserError(f"a series of {T} steps is shorter than --imp_steps {n}")
        starts = list(range(0, T - n + 1, n))
        if starts[-1] + n < T:
            starts.append(T - n)   # the tail, overlapping the window before
        starts = [s for s in starts if np.isnan(series[s:s + n]).any()]
        out = series.copy()
        if not starts:
            return out
        windows = np.stack([series[s:s + n] for s in starts])
        filled = np.asarray(imputer.impute({"X": ((windows - mean) / std).astype(np.float32)})) * std + mean
        for s, w in zip(starts, filled):
            part = out[s:s + n]
            gaps = np.isnan(part)
            part[gaps] = w[gaps]
        return out

    return fill
