"""The Time-LLM forecaster on the shared frozen-LLM core, and its STAMP adapter,
`--pred_model llm`.

The forecaster is channel independent: every feature is forecast on its own, from
its value and, optionally, its moving averages (C input channels, whose patch
tokens lie side by side in one sequence); `model/llm/core.py` runs the LLM.
STAMP batches are `[B, T, N, C]`; the adapter passes `[B*N, C', T]` (C' = C with
`--llm_use_mas`, else 1), with prompts built from each series' raw context
(`model/llm/prompts.py`).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from model.llm.backends import Backend, load_llm
from model.llm.core import ReprogrammedLLM, patchify
from model.llm.prompts import Prompts, dataset_description, series_prompts
from model.registry import register_forecaster, register_pred


class TimeLLMForecaster(ReprogrammedLLM):
    """Series `[B, C, T]` (+ optional prompts) -> forecast of channel 0 `[B, H]`."""

    def __init__(self, llm: nn.Module, tokenizer, backend: Backend, n_channels: int, context_len: int, n_pred: int,
                 patch_len: int, stride: int, d_model: int, n_heads: int, num_tokens: int, d_ff: int,
                 dropout: float, prefix_cache: bool, vocab_subset: int = 0, skip_layers: bool = False,
                 lora_r: int = 0, one_attention: bool = False):
        super().__init__(llm, tokenizer, backend, d_model, n_heads, num_tokens, dropout, prefix_cache, vocab_subset,
                         skip_layers, lora_r, one_attention)
        self.patch_len, self.stride = patch_len, stride
        # (T - p) // s + 1 patches, plus one more from the `stride` values padded on the right
        self.n_patches = (context_len - patch_len) // stride + 2
        self.d_ff = min(d_ff, self.d_llm)
        self.patch_embed = nn.Linear(patch_len, d_model)
        self.embed_dropout = nn.Dropout(dropout)
        self.head = nn.Sequential(nn.Flatten(start_dim=1), nn.Linear(n_channels * self.n_patches * self.d_ff, n_pred),
                                  nn.Dropout(dropout))

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """`[B, C, T]` -> `[B, C*P, patch_len]`, the last value repeated `stride` times on the right."""
        return patchify(x, self.patch_len, self.stride).flatten(1, 2)

    def patch_embeddings(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised series `[B, C, T]` -> patch embeddings `[B, C*P, d_model]`."""
        return self.patch_embed(self.patchify(z))

    def patch_tokens(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised series `[B, C, T]` -> reprogrammed patch tokens `[B, C*P, d_llm]`."""
        return self.reprogrammed(self.embed_dropout(self.patch_embeddings(z)))

    def head_from_embeddings(self, emb: torch.Tensor, prompts: Prompts | None) -> torch.Tensor:
        """Patch embeddings `[B, C*P, d_model]` -> the normalised forecast `[B, H]`."""
        hidden = self.run_llm(self.reprogrammed(self.embed_dropout(emb)), prompts)   # [B, C*P, d_llm]
        return self.head(hidden[..., : self.d_ff].float())

    def forward(self, x: torch.Tensor, prompts: Prompts | None = None) -> torch.Tensor:
        """x `[B, C, T]` raw series; prompts: one per row, or None -> `[B, H]`."""
        mean = x.mean(dim=-1, keepdim=True).detach()
        std = torch.sqrt(x.var(dim=-1, keepdim=True, unbiased=False) + 1e-5).detach()
        out = self.head_from_embeddings(self.patch_embeddings((x - mean) / std), prompts)
        return out * std[:, 0] + mean[:, 0]



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
            cfg.llm_d_ff, cfg.dropout, cfg.llm_prefix_cache, cfg.llm_vocab_subset, cfg.llm_skip_layers,
            cfg.llm_lora_r, cfg.llm_one_attention)

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
        if not self.forecaster.reads_prompts:
            return self.forecaster(series, None)
        prompts = series_prompts(series[:, 0], self.mode, self.description, self.H, self.top_k_lags)
        return self.forecaster(series, prompts)


class LongHorizonLLM(nn.Module):
    """forecast.py's interface to an LLM forecaster: one channel's lookback `[B, L]` ->
    `[B, H]`, patches of `--fc_patch_len` / `--fc_stride`, the prompt built as for detection
    (`--llm_prompt_mode`: the dataset's description, optionally each window's statistics)."""

    net_class = TimeLLMForecaster

    def __init__(self, cfg, **extra):
        super().__init__()
        llm, tokenizer, backend = load_llm(cfg)
        self.H, self.mode, self.top_k_lags = cfg.pred_len, cfg.llm_prompt_mode, cfg.llm_top_k_lags
        self.description = dataset_description(cfg.data)
        self.net = self.net_class(
            llm, tokenizer, backend, 1, cfg.seq_len, cfg.pred_len, cfg.fc_patch_len, cfg.fc_stride, cfg.llm_d_model,
            cfg.llm_n_heads, cfg.llm_num_tokens, cfg.llm_d_ff, cfg.dropout, cfg.llm_prefix_cache,
            cfg.llm_vocab_subset, cfg.llm_skip_layers, cfg.llm_lora_r, cfg.llm_one_attention, **extra)

    def prompts(self, x: torch.Tensor) -> Prompts | None:
        if not self.net.reads_prompts:
            return None
        return series_prompts(x, self.mode, self.description, self.H, self.top_k_lags)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`[B, L]` -> `[B, H]`."""
        return self.net(x[:, None], self.prompts(x))


@register_forecaster("timellm")
class TimeLLMLongHorizon(LongHorizonLLM):
    DEFAULT_LR = 0.01   # Time-LLM's ETTh1 script
