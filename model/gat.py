"""STAMP's spatio-temporal prediction branch, written from the paper's design.

Input: the context of each window `[B, T, N, C]` (T = L - H). Output: the
forecast of the last H steps `[B, H, N]`.

Three views of the context are combined by the head:
1. a residual projection of the input;
2. spatio-temporal layers: a gated temporal convolution per feature, then
   graph attention across features, restricted to a learned sparse graph;
3. temporal self-attention across the T steps of *one* window (batch_first),
   so a window's forecast never depends on the other windows of its batch.

Every layer is built in `__init__` (STAMP's public code builds some inside
`forward`, which leaves them untrained and unsaved).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from model.registry import register_pred


class GraphConstructor(nn.Module):
    """A learned directed graph over the N features: adjacency `[N, N]`.

    Two node embeddings give an antisymmetric score; each row keeps its
    `top_k` strongest edges plus a self-loop (so no row is empty). It returns
    the log edge weights as an attention bias `[N, N]` (-inf where there is
    no edge), so the graph is trained through the attention it shapes.
    """

    def __init__(self, n_nodes: int, em_dim: int, top_k: int, alpha: float):
        super().__init__()
        self.emb1 = nn.Embedding(n_nodes, em_dim)
        self.emb2 = nn.Embedding(n_nodes, em_dim)
        self.lin1 = nn.Linear(em_dim, em_dim)
        self.lin2 = nn.Linear(em_dim, em_dim)
        self.k = min(top_k, n_nodes)
        self.alpha = alpha
        self.register_buffer("eye", torch.eye(n_nodes, dtype=torch.bool), persistent=False)

    def forward(self) -> torch.Tensor:
        v1 = torch.tanh(self.alpha * self.lin1(self.emb1.weight))
        v2 = torch.tanh(self.alpha * self.lin2(self.emb2.weight))
        adj = F.relu(torch.tanh(self.alpha * (v1 @ v2.T - v2 @ v1.T)))  # [N, N]
        keep = torch.zeros_like(adj, dtype=torch.bool)
        keep.scatter_(1, adj.topk(self.k, dim=1).indices, True)
        keep = (keep & (adj > 0)) | self.eye
        weight = torch.where(self.eye, torch.ones_like(adj), adj)
        return torch.where(keep, weight.clamp_min(1e-6).log(), torch.full_like(adj, float("-inf")))


class GraphAttention(nn.Module):
    """Attention across features at each step, biased and masked by the graph.

    h `[B, T, N, d_in]`, bias `[N, N]` -> `[B, T, N, d_out]`.
    """

    def __init__(self, d_in: int, d_out: int, dropout: float):
        super().__init__()
        self.proj = nn.Linear(d_in, d_out, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.scale = 1.0 / math.sqrt(d_out)

    def forward(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        z = self.proj(h)
        scores = (z @ z.transpose(-1, -2)) * self.scale + bias    # [B, T, N, N]
        return self.dropout(scores.softmax(dim=-1)) @ z


class SpatioTemporalLayer(nn.Module):
    """Gated (GLU) temporal convolution + graph attention, residual, LayerNorm.

    h `[B, T, N, d]` -> `[B, T, N, d]` (causal left padding keeps T).
    """

    def __init__(self, d: int, kernel: int, dropout: float):
        super().__init__()
        self.kernel = kernel
        self.temporal = nn.Conv2d(d, 2 * d, kernel_size=(kernel, 1))
        self.gat = GraphAttention(2 * d, 2 * d, dropout)
        self.norm = nn.LayerNorm(d)
        self.d = d

    def forward(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        z = F.pad(h.permute(0, 3, 1, 2), (0, 0, self.kernel - 1, 0))   # [B, d, T+k-1, N]
        z = self.temporal(z).permute(0, 2, 3, 1)                          # [B, T, N, 2d]
        z = self.gat(z, bias)
        return self.norm((z[..., : self.d] + h) * torch.sigmoid(z[..., self.d:]))


class TemporalAttention(nn.Module):
    """Self-attention over the T steps of each window; features flattened per step.

    h `[B, T, N, d]` -> `[B, T, N, d]`.
    """

    def __init__(self, n_nodes: int, d: int, T: int, embed: int, heads: int, ffwd: int, dropout: float):
        super().__init__()
        self.inp = nn.Linear(n_nodes * d, embed)
        self.pos = nn.Parameter(torch.randn(T, embed) * 0.02)
        layer = nn.TransformerEncoderLayer(embed, heads, ffwd, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.out = nn.Linear(embed, n_nodes * d)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        B, T, N, d = h.shape
        z = self.encoder(self.inp(h.reshape(B, T, N * d)) + self.pos)  # [B, T, embed]
        return self.out(z).reshape(B, T, N, d)


@register_pred("gat")
class STAMPPredictor(nn.Module):
    """Context `[B, T, N, C]` -> forecast `[B, H, N]`."""

    def __init__(self, cfg, n_features: int):
        super().__init__()
        d, T = cfg.d_model, cfg.context_len
        self.N, self.T, self.H = n_features, T, cfg.n_pred
        self.inp = nn.Linear(cfg.in_channels, d)
        self.graph = GraphConstructor(n_features, cfg.em_dim, cfg.top_k, cfg.graph_alpha)
        self.st_layers = nn.ModuleList(SpatioTemporalLayer(d, cfg.temp_kernel, cfg.dropout) for _ in range(cfg.layer_num))
        self.temporal = TemporalAttention(n_features, d, T, cfg.embed_size, cfg.num_heads, cfg.ffwd_size, cfg.dropout)
        hidden = 32
        self.head = nn.Sequential(nn.Linear(3 * d * T, hidden), nn.ReLU(), nn.Linear(hidden, self.H))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, N, _ = x.shape
        assert (T, N) == (self.T, self.N), f"expected [B, {self.T}, {self.N}, C], got {tuple(x.shape)}"
        h = self.inp(x)                                   # [B, T, N, d]
        bias = self.graph()
        s = h
        for layer in self.st_layers:
            s = layer(s, bias)
        t = self.temporal(h)
        z = torch.cat([h, s, t], dim=-1)                  # [B, T, N, 3d]
        z = z.permute(0, 2, 1, 3).reshape(B, N, -1)       # [B, N, T*3d]
        return self.head(z).transpose(1, 2)               # [B, H, N]
