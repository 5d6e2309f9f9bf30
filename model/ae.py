"""STAMP's reconstruction branch: a fully connected encoder-decoder over the
flattened window."""
from __future__ import annotations

import torch
import torch.nn as nn

from model.registry import register_recon


def _mlp(sizes: list[int], final: nn.Module) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        layers.append(nn.ReLU() if i < len(sizes) - 2 else final)
    return nn.Sequential(*layers)


@register_recon("ae")
class WindowAE(nn.Module):
    """`[B, L, N]` -> flatten `[B, L*N]` -> L*N/2 -> L*N/4 -> L*latent -> back -> `[B, L, N]`.

    The sigmoid output matches the min-max scaled inputs in [0, 1].
    """

    def __init__(self, cfg, n_features: int):
        super().__init__()
        self.L, self.N = cfg.window_size, n_features
        flat = self.L * self.N
        latent = max(self.L * cfg.latent_size, 1)
        widths = [flat, max(flat // 2, latent), max(flat // 4, latent), latent]
        self.encoder = _mlp(widths, nn.ReLU())
        self.decoder = _mlp(widths[::-1], nn.Sigmoid())

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        B = w.shape[0]
        assert w.shape[1:] == (self.L, self.N), f"expected [B, {self.L}, {self.N}], got {tuple(w.shape)}"
        return self.decoder(self.encoder(w.reshape(B, -1))).reshape(B, self.L, self.N)
