"""The frozen-LLM core every task stands on: patches reprogrammed into a frozen LLM's
embedding space, behind the prompt as a prefix.

`ReprogrammedLLM` holds the prototypes, the reprogramming layer, the
prompt-as-prefix pass and its cache; the Time-LLM forecaster (`model/timellm.py`)
adds the patch embedding and forecasting head, and LLM4IMP's backbone
(`model/llm4imp`) a mask-aware embedding and an imputation head.

Channel independent: every feature is forecast on its own, from its value
and, optionally, its moving averages (C input channels, whose patch tokens
are laid side by side in one sequence).
    x [B, C, T] -> instance norm per channel -> patches [B, C, P, patch_len]
      -> embed -> reprogram (cross-attention onto text prototypes) [B, C*P, d_llm]
      -> frozen LLM after the prompt embeddings -> last C*P states
      -> first d_ff dims, flattened [B, C*P*d_ff] -> linear head [B, H]
      -> de-norm with channel 0's statistics

Prompts of different lengths share one LLM call: every row's sequence is
[shared prompt | own prompt, right-padded | patch tokens], with an attention
mask over the padding and explicit position ids, so each row computes what it
would alone (tests check this against unpadded single-row runs).

Prefix cache (causal backends): with a frozen LLM the prompt's hidden states
depend on no trainable parameter. The shared prompt's keys/values are computed
once and kept between batches (in `dataset` mode that is the whole prompt); the
rows' own texts are deduplicated and run once per batch without gradients, on
top of it; only the patch tokens run with gradients, attending to that cache.
With LoRA (`--llm_lora_r`) the prompt's keys/values depend on trainable weights:
while training they are recomputed at every call, with gradients, and what
inference memorised is forgotten whenever the module switches mode or loads weights.

Ablations (Tan et al., NeurIPS 2024): `skip_layers` replaces the LLM's layers by the
identity, `one_attention` by one trainable multi-head attention layer (with a residual);
neither reads the prompt.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from transformers import DynamicCache

from model.llm.backends import Backend, word_embeddings
from model.llm.prefix_attention import NAME as SHARED_PREFIX_ATTENTION, own_mask, shared_prefix
from model.llm.prompts import Prompts

SHARED_MEMO = 8  # shared prompts whose keys/values are kept between calls


def add_lora(llm: nn.Module, r: int) -> nn.Module:
    """The LLM with rank-`r` LoRA adapters (alpha 2r, no dropout) on peft's default targets
    for its architecture (llama: q_proj and v_proj; gpt2: c_attn; bert: query and value);
    only the adapters train. No `task_type`: peft's causal-LM wrapper wants a generation
    head, which the bare decoder used here has not."""
    from peft import LoraConfig, get_peft_model
    return get_peft_model(llm, LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0))


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


class TrainableLLMWeightsOnly:
    """Mixin for modules holding an `llm`: their checkpoints keep the LLM's trainable weights
    (LoRA adapters) and drop its frozen ones, which the config rebuilds (bundled package, local
    folder, hub id or seeded random init), so checkpoints stay a few MB. Call
    `keep_trainable_llm_weights_only()` once `self.llm` is set."""

    def keep_trainable_llm_weights_only(self) -> None:
        self.register_state_dict_post_hook(_drop_frozen_llm)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name, value in self.llm.state_dict().items():
            state_dict.setdefault(f"{prefix}llm.{name}", value)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class ReprogrammedLLM(TrainableLLMWeightsOnly, nn.Module):
    """The frozen-LLM core that the forecaster (Time-LLM) and the imputer (LLM4IMP) share:
    text prototypes (a trainable map of the LLM's word embeddings), the reprogramming
    cross-attention, and the prompt-as-prefix pass through the frozen LLM with its
    prefix cache. Subclasses embed their patches and read the patch states out.

    `reprogrammed(emb [B, P, d_model])` -> tokens `[B, P, d_llm]`;
    `run_llm(tokens, prompts)` -> their last hidden states `[B, P, d_llm]`.
    """

    def __init__(self, llm: nn.Module, tokenizer, backend: Backend, d_model: int, n_heads: int, num_tokens: int,
                 dropout: float, prefix_cache: bool, vocab_subset: int = 0, skip_layers: bool = False,
                 lora_r: int = 0, one_attention: bool = False):
        super().__init__()
        self.tokenizer = tokenizer
        self.d_llm = llm.config.hidden_size
        # The "are LLMs useful" ablation (Tan et al., NeurIPS 2024): the same prototypes,
        # reprogramming and head, with the LLM's layers replaced by the identity.
        self.skip_layers = skip_layers
        self.use_cache = prefix_cache and backend.causal
        if self.use_cache:
            llm.set_attn_implementation(SHARED_PREFIX_ATTENTION)
        self.lora = lora_r > 0
        self.llm = add_lora(llm, lora_r) if self.lora else llm
        self.one_attention = (nn.MultiheadAttention(self.d_llm, llm.config.num_attention_heads, batch_first=True)
                              if one_attention else None)
        vocab = word_embeddings(llm).shape[0]
        self.vocab_used = min(vocab_subset, vocab) if vocab_subset > 0 else vocab
        self.prototypes = nn.Linear(self.vocab_used, num_tokens)
        self.reprogram = ReprogrammingLayer(d_model, n_heads, self.d_llm, dropout)
        self._shared_kv: dict[tuple, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        self._row_kv: tuple[tuple, list[tuple[torch.Tensor, torch.Tensor]]] | None = None
        self._eval_prototypes: torch.Tensor | None = None
        self.keep_trainable_llm_weights_only()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        self._forget()  # new weights invalidate memorised prototypes (and LLM keys/values)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _forget(self) -> None:
        self._shared_kv.clear()
        self._row_kv = None
        self._eval_prototypes = None

    def train(self, mode: bool = True):
        super().train(mode)
        self.llm.eval()  # frozen: no dropout inside the LLM, ever
        self._eval_prototypes = None
        if self.lora:    # the adapters may have changed since the keys/values were memorised
            self._forget()
        return self

    def prefix_is_fresh(self) -> bool:
        """With LoRA, a training pass runs the prompt anew (with gradients when they are on)
        and memorises nothing: the adapters change at every step."""
        return self.lora and (self.training or torch.is_grad_enabled())

    @property
    def reads_prompts(self) -> bool:
        """False for the ablations that replace the LLM's layers: nothing there reads a prompt."""
        return not self.skip_layers and self.one_attention is None

    @property
    def llm_dtype(self) -> torch.dtype:
        return word_embeddings(self.llm).dtype

    def text_prototypes(self) -> torch.Tensor:
        """`[num_tokens, d_llm]`: a trainable map of the (first `vocab_used`) word embeddings.

        Without gradients in eval mode they cannot change between calls, so they
        are computed once (the map over the whole vocabulary is the costliest
        matmul of a forward pass).
        """
        frozen = not (self.training or torch.is_grad_enabled())
        if frozen and self._eval_prototypes is not None:
            return self._eval_prototypes
        table = word_embeddings(self.llm)[: self.vocab_used].float()
        protos = self.prototypes(table.T).T
        if frozen:
            self._eval_prototypes = protos
        return protos

    def reprogrammed(self, emb: torch.Tensor) -> torch.Tensor:
        """Patch embeddings `[B, P, d_model]` -> tokens in the LLM's space `[B, P, d_llm]` (its dtype)."""
        return self.reprogram(emb, self.text_prototypes()).to(self.llm_dtype)

    def encode(self, texts: list[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids of `texts`, right-padded: ids `[U, L]` and their lengths `[U]`."""
        ids = [self.tokenizer.encode(t) for t in texts]
        lengths = torch.tensor([len(i) for i in ids], device=device)
        out = torch.zeros(len(ids), int(lengths.max()) if ids else 0, dtype=torch.long, device=device)
        for r, row in enumerate(ids):
            out[r, : len(row)] = torch.tensor(row, dtype=torch.long)
        return out, lengths

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.llm.get_input_embeddings()(ids)

    # ---- the LLM pass -------------------------------------------------------------
    def run_llm(self, tokens: torch.Tensor, prompts: Prompts | None) -> torch.Tensor:
        """Tokens `[B, P, d_llm]` after each row's prompt (None: no prompt) -> their states `[B, P, d_llm]`."""
        if self.skip_layers:
            return tokens
        if self.one_attention is not None:
            t = tokens.float()
            return t + self.one_attention(t, t, t, need_weights=False)[0]
        if prompts is None:
            return self.llm(inputs_embeds=tokens, use_cache=False).last_hidden_state
        layout = PromptLayout.build(self, prompts, tokens.shape[0], tokens.device)
        return self._run_cached(tokens, layout) if self.use_cache else self._run_plain(tokens, layout)

    def _run_plain(self, tokens: torch.Tensor, lay: "PromptLayout") -> torch.Tensor:
        """Patch-token states `[B, P, d_llm]`: the whole prompt runs with them, in one padded batch."""
        B, P = tokens.shape[:2]
        parts = [self.embed(lay.shared_ids)[None].expand(B, -1, -1)]
        if lay.row_ids is not None:
            parts.append(self.embed(lay.row_ids)[lay.inverse])
        full = torch.cat(parts + [tokens], dim=1)
        positions = torch.cat([lay.prompt_positions(B), lay.token_positions(B, P)], dim=1)
        out = self.llm(inputs_embeds=full, attention_mask=lay.mask(B, P), position_ids=positions, use_cache=False)
        return out.last_hidden_state[:, lay.prompt_len:]

    def _run_cached(self, tokens: torch.Tensor, lay: "PromptLayout") -> torch.Tensor:
        """Same as `_run_plain`; the prompt's keys/values are computed without gradients,
        the shared part once for all batches, and attended to without copies per row."""
        B, P = tokens.shape[:2]
        shared = self.shared_keys_values(lay)                                   # [1, kvH, S0, d] per layer
        ones = torch.ones(B, P, dtype=torch.long, device=tokens.device)
        if lay.row_ids is None:
            past, key_mask, L = None, ones, 0
        else:
            rows = self.row_keys_values(lay, shared)                             # [U, kvH, L, d] per layer
            past = DynamicCache(ddp_cache_data=[(k[lay.inverse], v[lay.inverse]) for k, v in rows])
            key_mask, L = torch.cat([lay.row_mask[lay.inverse], ones], dim=1), lay.row_ids.shape[1]
        with shared_prefix(shared):
            out = self.llm(inputs_embeds=tokens, past_key_values=past, attention_mask=own_mask(key_mask, P),
                           position_ids=lay.token_positions(B, P),
                           cache_position=torch.arange(L, L + P, device=tokens.device), use_cache=past is not None)
        return out.last_hidden_state

    def shared_keys_values(self, lay: "PromptLayout") -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The shared prompt's per-layer keys/values `[1, kv_heads, S0, d]`, kept between calls."""
        if self.prefix_is_fresh():
            out = self.llm(inputs_embeds=self.embed(lay.shared_ids)[None], use_cache=True)
            return _layers(out.past_key_values)
        key = (lay.shared, lay.shared_ids.device, self.llm_dtype)
        kv = self._shared_kv.get(key)
        if kv is None:
            with torch.no_grad():
                out = self.llm(inputs_embeds=self.embed(lay.shared_ids)[None], use_cache=True)
            kv = _layers(out.past_key_values)
            if len(self._shared_kv) >= SHARED_MEMO:
                self._shared_kv.pop(next(iter(self._shared_kv)))
            self._shared_kv[key] = kv
        return kv

    def row_keys_values(self, lay: "PromptLayout", shared: list[tuple[torch.Tensor, torch.Tensor]]
                        ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Keys/values `[U, kv_heads, L, d]` of each distinct row text, after the shared prompt.

        The last batch's are kept: a training step runs the predictor on the
        same batch two or three times, and they depend on the texts alone.
        """
        if self.prefix_is_fresh():
            return self.compute_row_keys_values(lay, shared)
        key = (lay.shared, lay.row_texts, lay.row_ids.device, self.llm_dtype)
        if self._row_kv is None or self._row_kv[0] != key:
            self._row_kv = (key, self.compute_row_keys_values(lay, shared))
        return self._row_kv[1]

    def compute_row_keys_values(self, lay: "PromptLayout", shared: list[tuple[torch.Tensor, torch.Tensor]]
                                ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        U, L = lay.row_ids.shape
        positions = lay.shared_ids.shape[0] + torch.arange(L, device=lay.row_ids.device)
        with torch.set_grad_enabled(self.lora and torch.is_grad_enabled()), shared_prefix(shared):
            out = self.llm(inputs_embeds=self.embed(lay.row_ids), attention_mask=own_mask(lay.row_mask, L),
                           position_ids=positions[None].expand(U, -1), use_cache=True)
        return _layers(out.past_key_values)


def patchify(x: torch.Tensor, patch_len: int, stride: int) -> torch.Tensor:
    """`[..., T]` -> `[..., P, patch_len]` with P = (T - patch_len) // stride + 2: the last value is
    repeated `stride` times on the right, so the end of the series gets a patch of its own."""
    x = torch.cat([x, x[..., -1:].expand(*x.shape[:-1], stride)], dim=-1)
    return x.unfold(-1, patch_len, stride)


@dataclass
class PromptLayout:
    """Where each row's prompt tokens sit in the padded sequence.

    shared_ids `[S0]`; row_texts the U distinct row texts; row_ids `[U, L]` their tokens, right-padded,
    with row_mask `[U, L]` and lengths `[U]`; inverse `[B]` maps rows to them.
    """

    shared: str
    shared_ids: torch.Tensor
    row_texts: tuple[str, ...] = ()
    row_ids: torch.Tensor | None = None
    row_mask: torch.Tensor | None = None
    lengths: torch.Tensor | None = None
    inverse: torch.Tensor | None = None

    @classmethod
    def build(cls, model: ReprogrammedLLM, prompts: Prompts, B: int, device: torch.device) -> "PromptLayout":
        shared_ids = torch.tensor(model.tokenizer.encode(prompts.shared), dtype=torch.long, device=device)
        if prompts.rows is None:
            return cls(prompts.shared, shared_ids)
        distinct: dict[str, int] = {}
        inverse = torch.tensor([distinct.setdefault(r, len(distinct)) for r in prompts.rows], device=device)
        row_ids, lengths = model.encode(list(distinct), device)
        row_mask = (torch.arange(row_ids.shape[1], device=device)[None] < lengths[:, None]).long()
        return cls(prompts.shared, shared_ids, tuple(distinct), row_ids, row_mask, lengths, inverse)

    @property
    def prompt_len(self) -> int:
        """S0 + L: the padded prompt length, the same for every row."""
        return self.shared_ids.shape[0] + (self.row_ids.shape[1] if self.row_ids is not None else 0)

    def own_lengths(self, B: int) -> torch.Tensor:
        """`[B]` each row's unpadded prompt length."""
        S0 = self.shared_ids.shape[0]
        if self.row_ids is None:
            return torch.full((B,), S0, device=self.shared_ids.device)
        return S0 + self.lengths[self.inverse]

    def prompt_positions(self, B: int) -> torch.Tensor:
        """`[B, S0 + L]`: 0, 1, ... (padding gets positions too; it is masked)."""
        return torch.arange(self.prompt_len, device=self.shared_ids.device)[None].expand(B, -1)

    def token_positions(self, B: int, P: int) -> torch.Tensor:
        """`[B, P]`: the patch tokens continue right after each row's own prompt, padding skipped."""
        lengths = self.own_lengths(B)
        return lengths[:, None] + torch.arange(P, device=lengths.device)[None]

    def mask(self, B: int, P: int) -> torch.Tensor | None:
        """`[B, S0 + L + P]` attention mask, or None when nothing is padded."""
        if self.row_ids is None:
            return None
        dev = self.shared_ids.device
        return torch.cat([torch.ones(B, self.shared_ids.shape[0], dtype=torch.long, device=dev),
                          self.row_mask[self.inverse], torch.ones(B, P, dtype=torch.long, device=dev)], dim=1)


def _drop_frozen_llm(module: nn.Module, state_dict: dict, prefix: str, _meta) -> None:
    """Checkpoints keep the LLM's trainable weights (LoRA adapters) and drop its frozen ones."""
    trainable = {f"{prefix}llm.{n}" for n, p in module.llm.named_parameters() if p.requires_grad}
    for key in [k for k in state_dict if k.startswith(f"{prefix}llm.") and k not in trainable]:
        del state_dict[key]


def _layers(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(keys, values) per layer of a transformers cache, `[n, heads, S, d]` each."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return [(k, v) for k, v in cache]
