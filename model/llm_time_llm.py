"""Time-LLM forecaster: patches reprogrammed into a frozen LLM's embedding space.

Channel independent: every feature is forecast on its own, from its value
and, optionally, its moving averages (C input channels, whose patch tokens
are laid side by side in one sequence).
    x [B, C, T] -> instance norm per channel -> patches [B, C, P, patch_len]
      -> embed -> reprogram (cross-attention onto text prototypes) [B, C*P, d_llm]
      -> frozen LLM after the prompt embeddings -> last C*P states
      -> first d_ff dims, flattened [B, C*P*d_ff] -> linear head [B, H]
      -> de-norm with channel 0's statistics

Prefix cache (causal backends): the prompt's hidden states depend on no
trainable parameter, so each distinct prompt is run once without gradients
and the patch tokens attend to its keys/values. Rows are grouped by
identical prompt text, so no padding is needed: in `dataset` mode one group
holds the whole batch; in the stats modes the groups are small.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from transformers import DynamicCache

from model.llm_backends import Backend, word_embeddings

PREFIX_MEMO = 256  # prompts whose keys/values are kept between calls


class ReprogrammingLayer(nn.Module):
    """Cross-attention from patch embeddings to text prototypes.

    patches `[B, P, d_model]`, prototypes `[S, d_llm]` -> `[B, P, d_llm]`.
    """

    def __init__(self, d_model: int, n_heads: int, d_llm: int, dropout: float = 0.1):
        super().__init__()
        self.h = n_heads
        self.d_k = d_model // n_heads
        self.q = nn.Linear(d_model, self.d_k * n_heads)
        self.k = nn.Linear(d_llm, self.d_k * n_heads)
        self.v = nn.Linear(d_llm, self.d_k * n_heads)
        self.out = nn.Linear(self.d_k * n_heads, d_llm)
        self.dropout = nn.Dropout(dropout)

    def forward(self, patches: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
        B, P, _ = patches.shape
        q = self.q(patches).view(B, P, self.h, self.d_k)                       # [B, P, h, e]
        k = self.k(prototypes).view(-1, self.h, self.d_k)                      # [S, h, e]
        v = self.v(prototypes).view(-1, self.h, self.d_k)                      # [S, h, e]
        att = torch.einsum("bphe,she->bhps", q, k) / math.sqrt(self.d_k)       # [B, h, P, S]
        att = self.dropout(att.softmax(dim=-1))
        return self.out(torch.einsum("bhps,she->bphe", att, v).reshape(B, P, -1))


class TimeLLMForecaster(nn.Module):
    """Series `[B, C, T]` (+ optional prompt texts) -> forecast of channel 0 `[B, H]`."""

    def __init__(self, llm: nn.Module, tokenizer, backend: Backend, n_channels: int, context_len: int, n_pred: int,
                 patch_len: int, stride: int, d_model: int, n_heads: int, num_tokens: int, d_ff: int,
                 dropout: float, prefix_cache: bool):
        super().__init__()
        self.llm, self.tokenizer = llm, tokenizer
        self.d_llm = llm.config.hidden_size
        self.patch_len, self.stride = patch_len, stride
        # (T - p) // s + 1 patches, plus one more from the `stride` values padded on the right
        self.n_patches = (context_len - patch_len) // stride + 2
        self.d_ff = min(d_ff, self.d_llm)
        self.use_cache = prefix_cache and backend.causal
        vocab = word_embeddings(llm).shape[0]
        self.patch_embed = nn.Linear(patch_len, d_model)
        self.embed_dropout = nn.Dropout(dropout)
        self.prototypes = nn.Linear(vocab, num_tokens)
        self.reprogram = ReprogrammingLayer(d_model, n_heads, self.d_llm, dropout)
        self.head = nn.Sequential(nn.Flatten(start_dim=1), nn.Linear(n_channels * self.n_patches * self.d_ff, n_pred),
                                  nn.Dropout(dropout))
        self._token_cache: dict[str, torch.Tensor] = {}
        self._prefix_cache: dict[tuple, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def _load_from_state_dict(self, *args, **kwargs):
        self._prefix_cache.clear()  # loaded LLM weights invalidate memorised keys/values
        super()._load_from_state_dict(*args, **kwargs)

    def train(self, mode: bool = True):
        super().train(mode)
        self.llm.eval()  # frozen: no dropout inside the LLM, ever
        return self

    # ---- pieces ---------------------------------------------------------------
    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """`[B, C, T]` -> `[B, C*P, patch_len]`, the last value repeated `stride` times on the right."""
        x = torch.cat([x, x[..., -1:].expand(-1, -1, self.stride)], dim=-1)
        return x.unfold(-1, self.patch_len, self.stride).flatten(1, 2)

    def prompt_ids(self, text: str, device: torch.device) -> torch.Tensor:
        """Token ids `[S]` of a prompt, tokenised once per distinct text."""
        ids = self._token_cache.get(text)
        if ids is None:
            ids = torch.tensor(self.tokenizer.encode(text), dtype=torch.long)
            self._token_cache[text] = ids
        return ids.to(device)

    def embed_prompt(self, text: str, device: torch.device) -> torch.Tensor:
        return self.llm.get_input_embeddings()(self.prompt_ids(text, device))  # [S, d_llm]

    def patch_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised series `[B, C, T]` -> reprogrammed patch tokens `[B, C*P, d_llm]`."""
        emb = self.embed_dropout(self.patch_embed(self.patchify(x)))
        protos = self.prototypes(word_embeddings(self.llm).T.to(emb.dtype)).T    # [num_tokens, d_llm]
        return self.reprogram(emb, protos)

    # ---- the LLM pass -------------------------------------------------------------
    def _run(self, tokens: torch.Tensor, prefix: torch.Tensor | None) -> torch.Tensor:
        """Hidden states of the patch tokens `[b, P, d_llm]` after an optional
        shared prompt `[S, d_llm]`, plain path (the prompt goes through with them)."""
        dtype = next(self.llm.parameters()).dtype
        if prefix is None:
            return self.llm(inputs_embeds=tokens.to(dtype), use_cache=False).last_hidden_state.float()
        full = torch.cat([prefix.expand(tokens.shape[0], -1, -1), tokens.to(prefix.dtype)], dim=1)
        return self.llm(inputs_embeds=full, use_cache=False).last_hidden_state[:, prefix.shape[0]:].float()

    def prefix_keys_values(self, text: str, prefix: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The prompt's per-layer keys/values `[1, heads, S, d]`, kept for the most recent
        `PREFIX_MEMO` prompts: in `dataset` mode one prompt serves every batch."""
        key = (text, prefix.device, prefix.dtype)
        kv = self._prefix_cache.get(key)
        if kv is None:
            with torch.no_grad():
                kv = _layers(self.llm(inputs_embeds=prefix[None], use_cache=True).past_key_values)
            if len(self._prefix_cache) >= PREFIX_MEMO:
                self._prefix_cache.pop(next(iter(self._prefix_cache)))
            self._prefix_cache[key] = kv
        return kv

    def _run_cached(self, tokens: torch.Tensor, prefix: torch.Tensor, text: str) -> torch.Tensor:
        """Same as `_run(tokens, prefix)`, with the prompt's keys/values computed once."""
        B, S = tokens.shape[0], prefix.shape[0]
        # a fresh cache per call, expanded without copying: DynamicCache.update concatenates
        # in place, so a reused cache object would grow from call to call
        fresh = DynamicCache(ddp_cache_data=[(k.expand(B, -1, -1, -1), v.expand(B, -1, -1, -1))
                                             for k, v in self.prefix_keys_values(text, prefix)])
        positions = torch.arange(S, S + tokens.shape[1], device=tokens.device)[None].expand(B, -1)
        out = self.llm(inputs_embeds=tokens.to(prefix.dtype), past_key_values=fresh, position_ids=positions,
                       cache_position=positions[0], use_cache=True)
        return out.last_hidden_state.float()

    def forward(self, x: torch.Tensor, prompts: list[str] | None = None) -> torch.Tensor:
        """x `[B, C, T]` raw series; prompts: one text per row, or None -> `[B, H]`."""
        mean = x.mean(dim=-1, keepdim=True).detach()
        std = torch.sqrt(x.var(dim=-1, keepdim=True, unbiased=False) + 1e-5).detach()
        tokens = self.patch_tokens((x - mean) / std)                              # [B, C*P, d_llm]
        if prompts is None:
            hidden = self._run(tokens, None)
        else:
            hidden = torch.empty(tokens.shape[0], tokens.shape[1], self.d_llm, device=x.device)
            groups: dict[str, list[int]] = {}
            for i, text in enumerate(prompts):
                groups.setdefault(text, []).append(i)
            for text, rows in groups.items():
                idx = torch.tensor(rows, device=x.device)
                prefix = self.embed_prompt(text, x.device)
                if self.use_cache:
                    hidden[idx] = self._run_cached(tokens[idx], prefix, text)
                else:
                    hidden[idx] = self._run(tokens[idx], prefix)
        out = self.head(hidden[..., : self.d_ff])                                # [B, H]
        return out * std[:, 0] + mean[:, 0]


def _layers(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(keys, values) per layer of a transformers cache, `[1, heads, S, d]` each."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return [(k, v) for k, v in cache]
