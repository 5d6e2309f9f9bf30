"""The models' errors on every window: the only torch code of scoring.

`window_errors` runs the trained prediction and reconstruction branches over
consecutive windows; `lib/score/scores.py` turns the errors into scores.
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn as nn

from lib.data.windows import complete, split_batch, window_bar

BRANCHES = ("pred", "recon", "adv")


@torch.no_grad()
def window_errors(pred: nn.Module, recon: nn.Module, series: torch.Tensor, cfg) -> dict[str, np.ndarray]:
    """Absolute errors of every window of `series` `[T, N, C]`.

    Returns `"seconds"` and `{"pred": [W, H, N], "recon", "adv": [W, S, N]}`, S the scored
    steps: the whole window (`--score_span window`, STAMP) or its last H (`horizon`):
    - pred:  |forecast - truth| on the H forecast steps
    - recon: |recon(window) - window|
    - adv:   |recon(filled) - filled|, filled = the window completed by the forecast
    """
    pred.eval()
    recon.eval()
    S = cfg.window_size if cfg.score_span == "window" else cfg.n_pred
    out: dict[str, list[np.ndarray]] = {k: [] for k in BRANCHES}
    t0 = time.perf_counter()
    for batch in window_bar(series, cfg, "scoring", batch_size=cfg.eval_batch_size):
        ctx, target, window = split_batch(batch, cfg)
        forecast = pred(ctx)
        filled = complete(window, forecast)
        out["pred"].append((forecast - target).abs().cpu().numpy())
        out["recon"].append((recon(window)[:, -S:] - window[:, -S:]).abs().cpu().numpy())
        out["adv"].append((recon(filled)[:, -S:] - filled[:, -S:]).abs().cpu().numpy())
    errors = {k: np.concatenate(v).astype(np.float64) for k, v in out.items()}
    errors["seconds"] = time.perf_counter() - t0
    return errors
