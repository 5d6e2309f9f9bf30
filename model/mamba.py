"""Mamba reconstruction branch built on transformers' `MambaModel`.

transformers picks the mamba-ssm CUDA kernels when they are installed and the
tensors live on a GPU, and its pure-torch path otherwise, so this runs on CPU.
A causal sequence model that sees x_t at step t could learn the identity, so
the window is squeezed through a bottleneck code: encoder Mamba -> last state
-> `mamba_latent` units -> decoder Mamba over learned positions -> values.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from transformers import MambaConfig, MambaModel

from model.registry import register_recon


def _mamba(cfg) -> MambaModel:
    conf = MambaConfig(vocab_size=2, hidden_size=cfg.mamba_d_model, state_size=cfg.mamba_d_state,
                       num_hidden_layers=cfg.mamba_layers, expand=2, conv_kernel=4, use_cache=False)
    model = MambaModel(conf)
    model.embeddings.requires_grad_(False)  # fed inputs_embeds: the token table is never used
    return model


@register_recon("mamba")
class MambaAE(nn.Module):
    """`[B, L, N]` -> `[B, L, N]` through a `mamba_latent`-wide code."""

    def __init__(self, cfg, n_features: int):
        super().__init__()
        d = cfg.mamba_d_model
        self.L, self.N = cfg.window_size, n_features
        self.embed = nn.Linear(n_features, d)
        self.encoder = _mamba(cfg)
        self.to_code = nn.Linear(d, cfg.mamba_latent)
        self.from_code = nn.Linear(cfg.mamba_latent, d)
        self.positions = nn.Parameter(torch.randn(self.L, d) * 0.02)
        self.decoder = _mamba(cfg)
        self.out = nn.Linear(d, n_features)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        assert w.shape[1:] == (self.L, self.N), f"expected [B, {self.L}, {self.N}], got {tuple(w.shape)}"
        h = self.encoder(inputs_embeds=self.embed(w), use_cache=False).last_hidden_state  # [B, L, d]
        code = torch.tanh(self.to_code(h[:, -1]))                                          # [B, latent]
        seed = self.from_code(code)[:, None, :] + self.positions[None]                      # [B, L, d]
        h = self.decoder(inputs_embeds=seed, use_cache=False).last_hidden_state             # [B, L, d]
        return torch.sigmoid(self.out(h))
