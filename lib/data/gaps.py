"""`--impute`: fill a raw dataset's gaps (NaN/inf) before scaling and windowing.

- `none`: leave them to `--nan_policy` (refuse, or forward-fill);
- `linear`: linear interpolation in time per feature (ends take the nearest value);
- `locf`: last observation carried forward (the start takes the first observation);
- `llm4imp`: LLM4IMP (`model/llm4imp`), trained by run.py on the training series only and
  saved beside the detector's checkpoint; test.py loads it.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Callable

import numpy as np
import pandas as pd

from lib.data.checks import carry_forward
from lib.data.types import RawData
from lib.errors import UserError

log = logging.getLogger("llm_tsad")


# A learned filler: training series `[T, N]` -> a function filling any series' gaps. The
# models that learn one live in model/ (model/imputers.py); callers pass one in.
LearnedFiller = Callable[[np.ndarray], Callable[[np.ndarray], np.ndarray]]


def fill_gaps(raw: RawData, cfg, learned: LearnedFiller | None = None) -> tuple[RawData, int]:
    """`raw` with its gaps filled by `cfg.impute`, and how many values were filled; `learned`
    serves `--impute llm4imp`."""
    if cfg.impute == "none":
        return raw, 0
    train, test = (np.where(np.isfinite(a), a, np.nan).astype(np.float64) for a in (raw.train, raw.test))
    n = int(np.isnan(train).sum() + np.isnan(test).sum())
    dead = np.flatnonzero(np.isnan(train).all(axis=0))
    if dead.size:
        raise UserError(f"{raw.source}: feature(s) {', '.join(raw.names[i] for i in dead[:5])} have no value in the "
                        f"training series; nothing can fill them")
    if cfg.impute == "llm4imp":
        if learned is None:
            raise UserError("--impute llm4imp needs its trained imputer; run.py and test.py pass it")
        fill = learned(train)
    else:
        fill = {"linear": interpolate, "locf": carry_forward}[cfg.impute]
    train, test = fill(train), fill(test)
    if n:
        log.info("%s: filled %d missing values with --impute %s", raw.source, n, cfg.impute)
    return dataclasses.replace(raw, train=train, test=test), n


def interpolate(series: np.ndarray) -> np.ndarray:
    """`[T, N]` with NaN -> linear interpolation per feature; the ends take the nearest value."""
    return pd.DataFrame(series).interpolate(method="linear", limit_direction="both").to_numpy(dtype=np.float64)


