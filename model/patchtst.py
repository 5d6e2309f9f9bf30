"""PatchTST (Nie et al., ICLR 2023) as the Time-Series-Library runs it at lookback 96, the
setting of the published lookback-96 tables: each window normalised on its own, cut into
patches of `--fc_patch_len` 16 with stride `--fc_stride` 8 (the last value repeated `stride`
times first, so 12 patches from 96 steps), a bias-free linear embedding plus sinusoidal
positions, `--fc_layers` post-norm Transformer encoder layers (LayerNorm inside, GELU
feed-forward of `--fc_d_ff`), a final BatchNorm over the model width, and a flatten-linear head.

    x [B, L] -> patches [B, P, patch_len] -> [B, P, d_model] -> encoder -> [B, P*d_model] -> [B, H]

Heads: `--fc_n_heads 0` takes the library's ETTh1 scripts' choice per horizon (2 at 96, 8 at
192 and 336, 16 at 720, else 8).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from model.forecasters import instance_norm
from model.layers import sinusoid_positions
from model.llm.core import patchify
from model.registry import register_forecaster

SCRIPT_HEADS = {96: 2, 192: 8, 336: 8, 720: 16}


class EncoderLayer(nn.Module):
    """Self-attention then a GELU feed-forward, each added back and LayerNorm-ed (post-norm)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model),
                                nn.Dropout(dropout))
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`[B, P, d_model]` -> `[B, P, d_model]`."""
        x = self.norm1(x + self.dropout(self.attn(x, x, x, need_weights=False)[0]))
        return self.norm2(x + self.ff(x))


class BatchNormOverWidth(nn.Module):
    """BatchNorm1d over the model width of `[B, P, d]` tokens."""

    def __init__(self, d: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


@register_forecaster("patchtst")
class PatchTST(nn.Module):
    DEFAULT_LR = 1e-4   # the library's default, which its PatchTST scripts keep

    def __init__(self, cfg):
        super().__init__()
        self.patch_len, self.stride = cfg.fc_patch_len, cfg.fc_stride
        n_patches = (cfg.seq_len - self.patch_len) // self.stride + 2
        d = cfg.fc_d_model
        heads = cfg.fc_n_heads or SCRIPT_HEADS.get(cfg.pred_len, 8)
        self.embed = nn.Linear(self.patch_len, d, bias=False)
        self.register_buffer("positions", sinusoid_positions(n_patches, d), persistent=False)
        self.dropout = nn.Dropout(cfg.dropout)
        self.encoder = nn.Sequential(*[EncoderLayer(d, heads, cfg.fc_d_ff, cfg.dropout) for _ in range(cfg.fc_layers)],
                                     BatchNormOverWidth(d))
        self.head = nn.Sequential(nn.Flatten(start_dim=1), nn.Linear(n_patches * d, cfg.pred_len),
                                  nn.Dropout(cfg.dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`[B, L]` -> `[B, H]`."""
        z, mean, std = instance_norm(x)
        tokens = self.dropout(self.embed(patchify(z, self.patch_len, self.stride)) + self.positions)
        return self.head(self.encoder(tokens)) * std + mean
