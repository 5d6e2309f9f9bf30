"""Small building blocks that several models share."""
from __future__ import annotations

import math

import torch


def sinusoid_positions(n: int, d: int) -> torch.Tensor:
    """The fixed sine/cosine position table `[n, d]` of the Transformer."""
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10_000.0) / d))
    table = torch.zeros(n, d)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, : d // 2]
    return table
