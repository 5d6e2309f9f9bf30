"""LLM-PS (Tang et al., arXiv 2503.09656) on the shared frozen-LLM core, `--model llm_ps`.

    x [B, L] -> instance norm -> MSCNN [B, C, L] -> patches [B, P, C*patch_len] -> d_model
      -> reprogramming -> LLM after the prompt -> head [B, H] -> de-norm
    training loss = MSE(forecast) + ps_lambda * MSE(align(MSCNN patches), T2T states)
                    + T2T's own losses (masked-patch reconstruction + nearest time word)

MSCNN (temporal patterns): `--ps_blocks` bottleneck blocks. Each reduces its input with a
1x1 convolution, splits it into 4 groups of `ps_channels / 4`, and runs a kernel-3
convolution per group on the group plus the previous branch's output, so the branches
see 3, 5, 7 and 9 steps. A one-level Daubechies-4 wavelet (ptwt, differentiable) splits
every branch into a long-term part (the approximation, reconstructed alone) and a
short-term part (the detail, reconstructed alone); the two add up to the branch. Short-term
parts are accumulated from the smallest receptive field to the largest, long-term ones
from the largest to the smallest; each branch's two sums are added, the 4 branches
concatenated and fused by a 1x1 convolution, plus the block's input (shortcut).

T2T (semantics): a small Transformer encoder over the patches of the normalised series,
with `--ps_mask` of them replaced by a learned mask token, trained to rebuild the masked
patches and to match each patch to its nearest word among the `--ps_time_words` LLM word
embeddings closest to a list of time words. Its states on the unmasked patches, without
gradients, are the target the MSCNN's patch features are pulled towards; the forecast
never reads T2T, so inference does not run it.

Choices the paper leaves open (docs/FORECASTING.md lists them with their reasons):
the fused features enter the LLM through the core's patch embedding and reprogramming,
exactly where Time-LLM's raw patches enter, so that `timellm` is this model without its
two modules; 2 blocks, so that a patch token's features see 17 steps, beyond its own 16;
one wavelet level, since 96 steps leave 51 coefficients per part after one; a linear
decoder; the nearest word found by cosine similarity, taught by cross-entropy at
temperature 0.1.
"""
from __future__ import annotations

import ptwt
import torch
import torch.nn as nn
import torch.nn.functional as F

from model.forecasters import instance_norm
from model.llm.backends import word_embeddings
from model.llm.core import patchify
from model.layers import sinusoid_positions
from model.registry import register_forecaster
from model.timellm import LongHorizonLLM, TimeLLMForecaster

TIME_WORDS = ("time", "trend", "sequence", "step", "lag", "period", "season", "cycle", "rise", "fall", "peak",
              "level", "change", "pattern", "history", "future", "hour", "day", "week", "before", "after")
WAVELET = "db4"
WORD_TEMPERATURE = 0.1


def wavelet_split(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`[..., L]` -> (long-term, short-term), each `[..., L]`: the one-level db4 approximation and
    detail, each reconstructed alone. They add up to `y` (up to float error)."""
    approx, detail = ptwt.wavedec(y, WAVELET, level=1, mode="symmetric")
    L = y.shape[-1]
    long = ptwt.waverec([approx, torch.zeros_like(detail)], WAVELET)[..., :L]
    short = ptwt.waverec([torch.zeros_like(approx), detail], WAVELET)[..., :L]
    return long, short


class MultiScaleBlock(nn.Module):
    """`[B, C, L]` -> `[B, C, L]`: 4 branches (receptive fields 3/5/7/9), each split into short- and
    long-term parts, aggregated across scales, fused by a 1x1 convolution, plus a shortcut."""

    BRANCHES = 4

    def __init__(self, channels: int):
        super().__init__()
        q = channels // self.BRANCHES
        self.reduce = nn.Conv1d(channels, q * self.BRANCHES, 1)
        self.convs = nn.ModuleList(nn.Conv1d(q, q, 3, padding=1) for _ in range(self.BRANCHES))
        self.fuse = nn.Conv1d(q * self.BRANCHES, channels, 1)
        self.act = nn.GELU()

    def branches(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The 4 branch outputs `[B, C/4, L]`, receptive fields 3, 5, 7, 9."""
        out, prev = [], 0
        for group, conv in zip(self.act(self.reduce(x)).chunk(self.BRANCHES, dim=1), self.convs):
            prev = self.act(conv(group + prev))
            out.append(prev)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        longs, shorts = zip(*(wavelet_split(b) for b in self.branches(x)))
        short_sums = list(torch.stack(shorts).cumsum(dim=0))                  # small to large
        long_sums = list(torch.stack(longs).flip(0).cumsum(dim=0).flip(0))    # large to small
        return x + self.fuse(torch.cat([s + l for s, l in zip(short_sums, long_sums)], dim=1))


class MSCNN(nn.Module):
    """Normalised series `[B, 1, L]` -> features `[B, C, L]`."""

    def __init__(self, channels: int, blocks: int):
        super().__init__()
        self.lift = nn.Conv1d(1, channels, 1)
        self.blocks = nn.Sequential(*[MultiScaleBlock(channels) for _ in range(blocks)])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.lift(z))


def time_word_table(llm: nn.Module, tokenizer, k: int) -> torch.Tensor:
    """`[k, d_llm]`, unit rows: the k word embeddings with the highest cosine similarity to any
    of TIME_WORDS (each word's first token, with and without a leading space)."""
    table = F.normalize(word_embeddings(llm).detach().float(), dim=-1)
    ids = sorted({tokenizer.encode(w)[0] for word in TIME_WORDS for w in (word, " " + word)})
    closeness = (table @ table[ids].T).max(dim=1).values
    return table[closeness.topk(min(k, table.shape[0])).indices].clone()


class T2T(nn.Module):
    """Patches `[B, P, patch_len]` -> states `[B, P, d]`; trained by masked reconstruction and
    nearest-time-word prediction."""

    def __init__(self, patch_len: int, n_patches: int, d: int, words: torch.Tensor, mask_ratio: float,
                 dropout: float):
        super().__init__()
        self.embed = nn.Linear(patch_len, d)
        self.register_buffer("positions", sinusoid_positions(n_patches, d), persistent=False)
        self.register_buffer("words", words, persistent=False)   # rebuilt from the LLM, never saved
        self.mask_token = nn.Parameter(torch.zeros(d))
        layer = nn.TransformerEncoderLayer(d, 4, 2 * d, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.decoder = nn.Linear(d, patch_len)
        self.to_words = nn.Linear(d, words.shape[1])
        self.mask_ratio = mask_ratio

    def encode(self, patches: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """patches `[B, P, p]`, mask `[B, P]` (True = hidden) -> `[B, P, d]`."""
        e = self.embed(patches)
        if mask is not None:
            e = torch.where(mask[..., None], self.mask_token.to(e.dtype), e)
        return self.encoder(e + self.positions)

    def word_logits(self, states: torch.Tensor) -> torch.Tensor:
        """`[B, P, d]` -> cosine similarities to the time words / temperature `[B, P, K]`."""
        return F.normalize(self.to_words(states), dim=-1) @ self.words.T / WORD_TEMPERATURE

    def losses(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction + word loss, states of the unmasked patches `[B, P, d]` without gradients)."""
        mask = torch.rand(patches.shape[:2], device=patches.device) < self.mask_ratio
        states = self.encode(patches, mask)
        recon = F.mse_loss(self.decoder(states)[mask], patches[mask]) if mask.any() else states.sum() * 0
        logits = self.word_logits(states)
        words = F.cross_entropy(logits.flatten(0, 1), logits.argmax(-1).flatten().detach())
        with torch.no_grad():
            target = self.encode(patches)
        return recon + words, target


class LLMPS(TimeLLMForecaster):
    """The Time-LLM forecaster with MSCNN features in place of raw patches, and T2T beside it.
    Series `[B, 1, L]` -> `[B, H]`."""

    def __init__(self, *args, mscnn: bool, t2t: bool, channels: int, blocks: int, t2t_dim: int, mask: float,
                 time_words: int, weight: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.mscnn = MSCNN(channels, blocks) if mscnn else None
        d_model = self.patch_embed.out_features
        if mscnn:
            self.patch_embed = nn.Linear(channels * self.patch_len, d_model)
        self.weight = weight
        self.t2t = self.align = None
        if t2t:
            words = time_word_table(self.llm, self.tokenizer, time_words)
            self.t2t = T2T(self.patch_len, self.n_patches, t2t_dim, words, mask, self.embed_dropout.p)
            self.align = nn.Linear(d_model, t2t_dim)

    def patch_embeddings(self, z: torch.Tensor) -> torch.Tensor:
        """`[B, 1, L]` -> `[B, P, d_model]`."""
        if self.mscnn is None:
            return super().patch_embeddings(z)
        patches = patchify(self.mscnn(z), self.patch_len, self.stride)        # [B, C, P, p]
        return self.patch_embed(patches.transpose(1, 2).flatten(2))

    def loss(self, x: torch.Tensor, y: torch.Tensor, prompts) -> tuple[torch.Tensor, torch.Tensor]:
        """x `[B, 1, L]`, y `[B, H]` -> (the training loss, the forecast MSE)."""
        z, mean, std = instance_norm(x[:, 0])
        emb = self.patch_embeddings(z[:, None])
        mse = F.mse_loss(self.head_from_embeddings(emb, prompts) * std + mean, y)
        if self.t2t is None:
            return mse, mse.detach()
        t2t_loss, target = self.t2t.losses(patchify(z, self.patch_len, self.stride))
        return mse + self.weight * F.mse_loss(self.align(emb), target) + t2t_loss, mse.detach()


@register_forecaster("llm_ps")
class LLMPSForecaster(LongHorizonLLM):
    DEFAULT_LR = 0.001   # our choice; the paper publishes none
    net_class = LLMPS

    def __init__(self, cfg):
        super().__init__(cfg, mscnn=cfg.ps_mscnn, t2t=cfg.ps_t2t, channels=cfg.ps_channels, blocks=cfg.ps_blocks,
                         t2t_dim=cfg.ps_t2t_dim, mask=cfg.ps_mask, time_words=cfg.ps_time_words,
                         weight=cfg.ps_lambda)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x `[B, L]`, y `[B, H]` -> (the training loss, the forecast MSE)."""
        return self.net.loss(x[:, None], y, self.prompts(x))
