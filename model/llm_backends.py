"""Frozen LLM backends: one table entry per architecture.

`load_llm(cfg)` returns the backbone truncated to its first `--llm_layers`
layers, frozen (`requires_grad=False`, `eval()`), and a tokenizer. The width
`d_llm` is read from the model's config, never asked for.

`--llm_model tiny` builds a tiny random model of the backend's architecture
with a byte-level tokenizer: for tests and smoke runs, no weights involved.
Otherwise `--llm_model` is a local folder or a hub id, loaded through
transformers' Auto classes; `--llm_pretrained False` builds the same
architecture randomly initialised (the ablation baseline).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, BertConfig, GPT2Config, LlamaConfig, PretrainedConfig

from lib.errors import UserError


@dataclass(frozen=True)
class Backend:
    name: str
    causal: bool                       # causal backends can reuse a prompt's key/value cache
    layers_key: str                    # the config field holding the layer count
    default_model: str                 # hub id used when --llm_model is empty
    tiny: Callable[[], PretrainedConfig]


BACKENDS: dict[str, Backend] = {
    "gpt2": Backend("gpt2", True, "n_layer", "gpt2",
                    lambda: GPT2Config(vocab_size=256, n_positions=1024, n_embd=32, n_layer=2, n_head=4)),
    "llama": Backend("llama", True, "num_hidden_layers", "HuggingFaceTB/SmolLM2-135M-Instruct",
                     lambda: LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)),
    "bert": Backend("bert", False, "num_hidden_layers", "sentence-transformers/all-MiniLM-L6-v2",
                    lambda: BertConfig(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                       num_attention_heads=4, max_position_embeddings=1024)),
}


class ByteTokenizer:
    """UTF-8 bytes as token ids: the tokenizer of `--llm_model tiny` (vocab 256)."""

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))


class HFTokenizer:
    """A transformers tokenizer behind the same one-method interface."""

    def __init__(self, tok):
        self.tok = tok

    def encode(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise UserError(f"unknown --llm_backend {name!r}; known: {', '.join(BACKENDS)}")
    return BACKENDS[name]


def _truncate(conf: PretrainedConfig, backend: Backend, n_layers: int) -> PretrainedConfig:
    have = getattr(conf, backend.layers_key)
    if n_layers > have:
        raise UserError(f"--llm_layers {n_layers}, but the model has only {have} layers")
    if n_layers > 0:
        setattr(conf, backend.layers_key, n_layers)
    return conf


def _load_config(source: str) -> PretrainedConfig:
    try:
        return AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load LLM {source!r}: no local copy and no hub reachable "
                        f"({str(exc).splitlines()[0][:120]}); use --llm_model tiny or a local folder") from None


def freeze(model: nn.Module) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def load_llm(cfg) -> tuple[nn.Module, object, Backend]:
    """(frozen backbone, tokenizer, backend) for `cfg.llm_backend` / `cfg.llm_model`."""
    backend = get_backend(cfg.llm_backend)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[cfg.llm_dtype]
    if cfg.llm_model == "tiny":
        torch_state = torch.random.get_rng_state()
        torch.manual_seed(0)  # the same tiny "frozen LLM" in every run, like a real checkpoint
        model = AutoModel.from_config(_truncate(backend.tiny(), backend, cfg.llm_layers))
        torch.random.set_rng_state(torch_state)
        return freeze(model.to(dtype)), ByteTokenizer(), backend
    source = cfg.llm_model or backend.default_model
    conf = _truncate(_load_config(source), backend, cfg.llm_layers)
    if cfg.llm_pretrained:
        model = AutoModel.from_pretrained(source, config=conf, torch_dtype=dtype)
    else:
        model = AutoModel.from_config(conf, torch_dtype=dtype)
    return freeze(model), HFTokenizer(AutoTokenizer.from_pretrained(source)), backend


def word_embeddings(model: nn.Module) -> torch.Tensor:
    """The frozen token table `[vocab, d_llm]`."""
    return model.get_input_embeddings().weight
