"""STAMP adapter for the Time-LLM forecaster: `--pred_model llm`.

STAMP batches are `[B, T, N, C]`; the forecaster is channel independent and
takes `[B*N, C', T]` (C' = C with `--llm_use_mas`, else 1). Prompts are built
from each series' raw context (`model/prompts.py`).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from model.llm_backends import load_llm
from model.llm_time_llm import TimeLLMForecaster
from model.prompts import dataset_description, series_prompts
from model.registry import register_pred


@register_pred("llm")
class LLMPredictor(nn.Module):
    """Context `[B, T, N, C]` -> forecast `[B, H, N]` through a frozen LLM."""

    # Without gradients, series go through the LLM this many at a time: on a CPU,
    # larger batches fall out of cache and score fewer windows per second
    # (scripts/bench_llm_speed.py measured 16-64 SMD windows per batch best).
    infer_rows = 1024

    def __init__(self, cfg, n_features: int):
        super().__init__()
        llm, tokenizer, backend = load_llm(cfg)
        self.N, self.T, self.H = n_features, cfg.context_len, cfg.n_pred
        self.use_mas = cfg.llm_use_mas and cfg.is_mas
        self.mode, self.top_k_lags = cfg.llm_prompt_mode, cfg.llm_top_k_lags
        self.description = dataset_description(cfg.data)
        self.forecaster = TimeLLMForecaster(
            llm, tokenizer, backend, cfg.in_channels if self.use_mas else 1, cfg.context_len, cfg.n_pred,
            cfg.llm_patch_len, cfg.llm_stride, cfg.llm_d_model, cfg.llm_n_heads, cfg.llm_num_tokens,
            cfg.llm_d_ff, cfg.dropout, cfg.llm_prefix_cache, cfg.llm_vocab_subset, cfg.llm_skip_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, N, C = x.shape
        assert (T, N) == (self.T, self.N), f"expected [B, {self.T}, {self.N}, C], got {tuple(x.shape)}"
        series = x.permute(0, 2, 3, 1).reshape(B * N, C, T)                       # [B*N, C, T]
        if not self.use_mas:
            series = series[:, :1]
        if torch.is_grad_enabled():
            out = self.forecast(series)
        else:
            out = torch.cat([self.forecast(part) for part in series.split(self.infer_rows)])
        return out.reshape(B, N, self.H).transpose(1, 2)                        # [B, H, N]

    def forecast(self, series: torch.Tensor) -> torch.Tensor:
        """`[R, C, T]` series, each with its own prompt -> `[R, H]`."""
        if self.forecaster.skip_layers:   # no layers to read a prompt
            return self.forecaster(series, None)
        prompts = series_prompts(series[:, 0], self.mode, self.description, self.H, self.top_k_lags)
        return self.forecaster(series, prompts)
