"""Prompt text for the LLM branch: the dataset's description and, in the
stats modes, statistics of each input series.

Modes (`--llm_prompt_mode`):
- none:        no prompt;
- dataset:     the description from `dataset/prompt_bank/<DATA>.txt`;
- stats_short: the description plus min, max, median and trend of the input;
- stats:       stats_short plus the top-k autocorrelation lags.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from lib.config import choices_of

PROMPT_MODES = choices_of("llm_prompt_mode")
PROMPT_BANK = Path(__file__).resolve().parents[2] / "dataset" / "prompt_bank"


def dataset_description(data: str) -> str:
    """The prompt-bank text of `data`, or the generic one when it has none."""
    path = PROMPT_BANK / f"{data}.txt"
    if not path.is_file():
        path = PROMPT_BANK / "generic.txt"
    return " ".join(path.read_text().split())


def top_lags(x: torch.Tensor, k: int) -> torch.Tensor:
    """The k lags with the largest autocorrelation, lag 0 excluded, via FFT.

    x `[B, T]` -> `[B, k]` (int64).
    """
    T = x.shape[-1]
    f = torch.fft.rfft(x - x.mean(dim=-1, keepdim=True), n=2 * T)
    acf = torch.fft.irfft(f * f.conj(), n=2 * T)[..., :T]          # [B, T], lag 0..T-1
    acf[..., 0] = float("-inf")
    return acf.topk(min(k, T - 1), dim=-1).indices


@dataclass(frozen=True)
class Prompts:
    """The prompt of every row of a batch: one `shared` text, then (stats modes)
    each row's own text. Row i's token ids are `encode(shared) + encode(rows[i])`,
    so the shared part's keys/values can be computed once for all rows."""

    shared: str
    rows: list[str] | None = None

    def text(self, i: int) -> str:
        return self.shared + (self.rows[i] if self.rows is not None else "")


def series_prompts(x: torch.Tensor, mode: str, description: str, n_pred: int, top_k_lags: int) -> Prompts | None:
    """The prompts of input series `x` `[B, T]` (raw, before normalisation), or None in mode `none`."""
    if mode == "none":
        return None
    T = x.shape[-1]
    shared = f"Dataset: {description} Task: forecast the next {n_pred} steps from the previous {T} steps."
    if mode == "dataset":
        return Prompts(shared)
    lo, hi = x.min(dim=-1).values.tolist(), x.max(dim=-1).values.tolist()
    med = x.median(dim=-1).values.tolist()
    trend = (x[..., -1] - x[..., 0]).tolist()
    lags = top_lags(x, top_k_lags).tolist() if mode == "stats" else None
    rows = []
    for i in range(x.shape[0]):
        row = (f" Input statistics: min {lo[i]:.3f}, max {hi[i]:.3f}, median {med[i]:.3f}, "
               f"trend {'upward' if trend[i] > 0 else 'downward'}")
        if lags is not None:
            row += f", top {len(lags[i])} lags {', '.join(map(str, lags[i]))}"
        rows.append(row + ".")
    return Prompts(shared, rows)
