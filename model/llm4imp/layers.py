"""LLM4IMP's backbone: a mask-aware patch embedding and an instruction prompt in front of
the frozen-LLM core that the Time-LLM forecaster uses (`ReprogrammedLLM`), and a flatten
head back to the series.

    X, M [B, T, D] -> channel independent [B*D, T], normalised on observed values only
      -> patches of X*M beside patches of M [B*D, P, 2*patch_size] -> linear + position [B*D, P, d_model]
      -> reprogrammed onto text prototypes [B*D, P, d_llm] -> frozen LLM after the prompt
      -> first d_ffn dims, flattened -> linear [B*D, T] -> de-normalised -> [B, T, D]
"""
from __future__ import annotations


import torch
import torch.nn as nn

from lib.config import choices_of
from model.llm.backends import Backend
from model.llm.core import ReprogrammedLLM, patchify
from model.layers import sinusoid_positions
from model.llm.prompts import Prompts

# LLM4IMP has one statistics prompt: the detector's stats_short is read as stats (model/imputers.py)
PROMPT_MODES = tuple(m for m in choices_of("llm_prompt_mode") if m != "stats_short")


class MaskAwarePatchEmbedding(nn.Module):
    """Series `x` and mask `m` `[R, T]` -> patch embeddings `[R, P, d_model]`: each patch of
    `x * m` is embedded together with the same patch of `m`, so that a zero the model sees
    is known to be a gap or an observed zero; plus a fixed position encoding."""

    def __init__(self, n_steps: int, patch_size: int, stride: int, d_model: int, dropout: float):
        super().__init__()
        self.patch_size, self.stride = patch_size, stride
        self.n_patches = (n_steps - patch_size) // stride + 2
        self.proj = nn.Linear(2 * patch_size, d_model)
        self.register_buffer("positions", sinusoid_positions(self.n_patches, d_model), persistent=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        patches = torch.cat([patchify(x * m, self.patch_size, self.stride),
                             patchify(m, self.patch_size, self.stride)], dim=-1)      # [R, P, 2*patch_size]
        return self.dropout(self.proj(patches) + self.positions)


def longest_gaps(m: torch.Tensor) -> list[int]:
    """The longest run of missing steps in each row of the mask `m` `[R, T]` (1 = observed)."""
    gaps = []
    for row in (m < 0.5).tolist():
        best = run = 0
        for missing in row:
            run = run + 1 if missing else 0
            best = max(best, run)
        gaps.append(best)
    return gaps


class PromptBuilder:
    """The instruction text of each series: the task and the dataset's description (shared by
    all rows), then (mode `stats`) the series' missing rate, its longest gap and the
    statistics of its observed values. Mode `none` gives no prompt."""

    def __init__(self, description: str, mode: str = "stats"):
        if mode not in PROMPT_MODES:
            raise ValueError(f"prompt mode {mode!r}; known: {', '.join(PROMPT_MODES)}")
        self.description, self.mode = description, mode

    def __call__(self, x: torch.Tensor, m: torch.Tensor) -> Prompts | None:
        """Raw series `x` and mask `m` `[R, T]` -> one prompt per row."""
        if self.mode == "none":
            return None
        T = x.shape[-1]
        shared = (f"Dataset: {self.description} Task: fill in the missing values of a series of {T} steps "
                  f"from its observed values.")
        if self.mode == "dataset":
            return Prompts(shared)
        observed = torch.where(m > 0.5, x, torch.full_like(x, float("nan")))
        rate = (1 - m.mean(dim=-1)).tolist()
        lo = torch.nan_to_num(observed.nan_to_num(float("inf")).min(dim=-1).values, posinf=0.0).tolist()
        hi = torch.nan_to_num(observed.nan_to_num(float("-inf")).max(dim=-1).values, neginf=0.0).tolist()
        med = torch.nan_to_num(observed.nanmedian(dim=-1).values).tolist()
        rows = [f" Missing: {100 * r:.0f}% of steps, longest gap {g} steps. Observed values: min {a:.3f}, "
                f"max {b:.3f}, median {c:.3f}." for r, g, a, b, c in zip(rate, longest_gaps(m), lo, hi, med)]
        return Prompts(shared, rows)


class BackboneLLM4IMP(ReprogrammedLLM):
    """`X`, `missing_mask` `[B, T, D]` -> reconstruction `[B, T, D]` through the frozen LLM."""

    def __init__(self, llm: nn.Module, tokenizer, backend: Backend, n_steps: int, patch_size: int, patch_stride: int,
                 d_model: int, d_ffn: int, n_heads: int, num_tokens: int, dropout: float, prompt: PromptBuilder,
                 prefix_cache: bool = True, skip_layers: bool = False):
        super().__init__(llm, tokenizer, backend, d_model, n_heads, num_tokens, dropout, prefix_cache,
                         skip_layers=skip_layers)
        self.n_steps = n_steps
        self.embedding = MaskAwarePatchEmbedding(n_steps, patch_size, patch_stride, d_model, dropout)
        self.d_ffn = min(d_ffn, self.d_llm)
        self.head = nn.Sequential(nn.Flatten(start_dim=1), nn.Linear(self.embedding.n_patches * self.d_ffn, n_steps),
                                  nn.Dropout(dropout))
        self.prompt = prompt

    def forward(self, X: torch.Tensor, missing_mask: torch.Tensor) -> torch.Tensor:
        B, T, D = X.shape
        m = missing_mask.permute(0, 2, 1).reshape(B * D, T).float()                 # [R, T], 1 = observed
        x = torch.where(m > 0.5, X.permute(0, 2, 1).reshape(B * D, T).float(), torch.zeros((), device=X.device))
        # Statistics of the observed values only: the gaps must not drag the scale.
        n = m.sum(dim=-1, keepdim=True).clamp(min=1.0)
        mean = ((x * m).sum(dim=-1, keepdim=True) / n).detach()
        std = torch.sqrt((((x - mean) * m) ** 2).sum(dim=-1, keepdim=True) / n + 1e-5).detach()
        tokens = self.reprogrammed(self.embedding((x - mean) / std, m))               # [R, P, d_llm]
        hidden = self.run_llm(tokens, self.prompt(x, m))
        out = self.head(hidden[..., : self.d_ffn].float()) * std + mean              # [R, T]
        return out.reshape(B, D, T).permute(0, 2, 1)
