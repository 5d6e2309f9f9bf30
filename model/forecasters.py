"""Long-horizon forecasters, one registry entry each: input `[B, seq_len]` -> forecast
`[B, pred_len]`, one channel at a time (channel independence).

- `naive`: the last value, repeated;
- `seasonal_naive`: the last `--season_len` values, repeated;
- `dlinear`: DLinear (Zeng et al., AAAI 2023): a moving average of 25 steps splits the
  input into trend and remainder, one linear layer maps each to the horizon, and the two
  are summed (its `individual=False`: the layers are shared by the channels).

PatchTST (`model/patchtst.py`), Time-LLM (`model/timellm.py`) and LLM-PS (`model/llm_ps.py`)
register themselves the same way. Each class's `DEFAULT_LR` is its published learning rate,
used when `--fc_lr` is 0 (the default).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from lib.errors import UserError
from model.registry import register_forecaster


def has_weights(model: nn.Module) -> bool:
    return any(p.requires_grad for p in model.parameters())


def instance_norm(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`[B, L]` -> (normalised `[B, L]`, mean `[B, 1]`, std `[B, 1]`): each window on its own
    (the non-stationary normalisation PatchTST, Time-LLM and LLM-PS apply)."""
    mean = x.mean(dim=-1, keepdim=True).detach()
    std = torch.sqrt(x.var(dim=-1, keepdim=True, unbiased=False) + 1e-5).detach()
    return (x - mean) / std, mean, std


@register_forecaster("naive")
class Naive(nn.Module):
    DEFAULT_LR = 0.0   # nothing to learn

    def __init__(self, cfg):
        super().__init__()
        self.pred_len = cfg.pred_len

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1:].expand(-1, self.pred_len)


@register_forecaster("seasonal_naive")
class SeasonalNaive(nn.Module):
    DEFAULT_LR = 0.0

    def __init__(self, cfg):
        super().__init__()
        if cfg.season_len > cfg.seq_len:
            raise UserError(f"--season_len {cfg.season_len} is longer than --seq_len {cfg.seq_len}")
        self.pred_len, self.season = cfg.pred_len, cfg.season_len

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        season = x[:, -self.season:]
        reps = -(-self.pred_len // self.season)
        return season.repeat(1, reps)[:, : self.pred_len]


def moving_average(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """`[B, L]` -> its centred moving average `[B, L]`, the ends padded with the edge values
    (DLinear's series decomposition)."""
    front = x[:, :1].expand(-1, (kernel - 1) // 2)
    back = x[:, -1:].expand(-1, (kernel - 1) // 2)
    padded = torch.cat([front, x, back], dim=1)
    return F.avg_pool1d(padded[:, None], kernel_size=kernel, stride=1)[:, 0]


@register_forecaster("dlinear")
class DLinear(nn.Module):
    KERNEL = 25
    DEFAULT_LR = 0.005   # DLinear's ETTh1 scripts

    def __init__(self, cfg):
        super().__init__()
        self.trend = nn.Linear(cfg.seq_len, cfg.pred_len)
        self.remainder = nn.Linear(cfg.seq_len, cfg.pred_len)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        trend = moving_average(x, self.KERNEL)
        return self.trend(trend) + self.remainder(x - trend)
