"""Attention to a prompt prefix that every row of a batch shares, without copying it.

With a plain key/value cache, a prefix of S0 tokens shared by B rows is
expanded and concatenated per row in every layer (and repeated per query
head under grouped-query attention): on a CPU those copies took ~40 % of a
scoring pass. Here the shared keys/values stay `[1, kv_heads, S0, d]`; each
query attends to them and to its row's own keys in one softmax:

    softmax([q·K_shared, q·K_own + mask]) @ [V_shared; V_own]

which is the same attention as over the concatenated sequence. The function
is registered with transformers' attention interface and falls back to SDPA
whenever no shared prefix is active, so the same model serves every path.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.nn as nn
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "shared_prefix_sdpa"
_SHARED: ContextVar[list[tuple[torch.Tensor, torch.Tensor]] | None] = ContextVar("shared_prefix", default=None)


@contextmanager
def shared_prefix(keys_values: list[tuple[torch.Tensor, torch.Tensor]]):
    """Within the block, every attention layer also attends to `keys_values[layer]`, `[1, kv_heads, S0, d]`."""
    token = _SHARED.set(keys_values)
    try:
        yield
    finally:
        _SHARED.reset(token)


def own_mask(key_mask: torch.Tensor, n_queries: int) -> torch.Tensor:
    """Boolean `[B, 1, Q, K]` mask over a row's own keys: key j is visible to query i
    when it is not padding (`key_mask` `[B, K]`) and not in the future, the queries
    being the last Q of the K positions."""
    K = key_mask.shape[1]
    q_pos = torch.arange(K - n_queries, K, device=key_mask.device)
    causal = torch.arange(K, device=key_mask.device)[None] <= q_pos[:, None]           # [Q, K]
    return (causal[None] & key_mask[:, None].bool())[:, None]


def _scaling(module: nn.Module, d: int, kwargs: dict) -> float:
    scale = kwargs.get("scaling") or d ** -0.5
    if getattr(module, "scale_attn_by_inverse_layer_idx", False):  # a GPT-2 option, off by default
        scale /= float(module.layer_idx + 1)
    return scale


def shared_prefix_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                            attention_mask: torch.Tensor | None, **kwargs) -> tuple[torch.Tensor, None]:
    """query `[B, H, Q, d]`, own key/value `[B, kvH, K, d]`, attention_mask boolean `[B, 1, Q, K]`
    -> output `[B, Q, H, d]` (the layout transformers' attention functions return)."""
    shared = _SHARED.get()
    if shared is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    k_pre, v_pre = shared[module.layer_idx]
    B, H, Q, d = query.shape
    kv_heads = key.shape[1]
    q = query.reshape(B, kv_heads, H // kv_heads, Q, d) * _scaling(module, d, kwargs)   # [B, kvH, g, Q, d]
    s_pre = torch.einsum("bkgqd,ksd->bkgqs", q, k_pre[0])                              # [B, kvH, g, Q, S0]
    s_own = torch.einsum("bkgqd,bksd->bkgqs", q, key)                                   # [B, kvH, g, Q, K]
    if attention_mask is not None:
        s_own = s_own.masked_fill(~attention_mask[:, :, None], float("-inf"))
    p = torch.cat([s_pre, s_own], dim=-1).float().softmax(dim=-1).to(query.dtype)
    S0 = k_pre.shape[2]
    out = torch.einsum("bkgqs,ksd->bkgqd", p[..., :S0], v_pre[0]) + \
        torch.einsum("bkgqs,bksd->bkgqd", p[..., S0:], value)
    return out.reshape(B, H, Q, d).transpose(1, 2).contiguous(), None


AttentionInterface.register(NAME, shared_prefix_attention)
AttentionMaskInterface.register(NAME, sdpa_mask)
