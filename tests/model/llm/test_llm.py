"""The Time-LLM prediction branch on tiny random backbones."""
from __future__ import annotations

import pytest
import torch

from model.llm.backends import BACKENDS
from model.llm.core import PromptLayout, ReprogrammingLayer
from model.llm.prompts import PROMPT_MODES, Prompts, series_prompts, top_lags
from model.registry import build_pred
from tests.conftest import tiny_config

N = 3


def llm_cfg(tmp_path, **kw):
    return tiny_config(tmp_path, pred_model="llm", window_size=12, n_pred=2, **kw)


def test_reprogramming_layer_shapes():
    layer = ReprogrammingLayer(d_model=8, n_heads=2, d_llm=12, dropout=0.0)
    assert layer(torch.rand(5, 7, 8), torch.rand(20, 12)).shape == (5, 7, 12)


def test_top_lags_finds_the_period():
    t = torch.arange(200, dtype=torch.float32)
    lags = top_lags(torch.sin(2 * torch.pi * t / 25)[None], 3)
    assert 25 in lags[0].tolist() and 0 not in lags[0].tolist()


def test_prompt_modes_exact_text():
    x = torch.tensor([[0.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0], [3.0, 2.0, 1.0, 0.0, 2.0, 1.0, 0.5]])
    shared = "Dataset: D. Task: forecast the next 2 steps from the previous 7 steps."
    assert series_prompts(x, "none", "D.", 2, 2) is None
    assert series_prompts(x, "dataset", "D.", 2, 2) == Prompts(shared)
    short = series_prompts(x, "stats_short", "D.", 2, 2)
    assert short.rows == [" Input statistics: min 0.000, max 3.000, median 2.000, trend upward.",
                          " Input statistics: min 0.000, max 3.000, median 1.000, trend downward."]
    full = series_prompts(x, "stats", "D.", 2, 2)
    lags = [", ".join(map(str, row)) for row in top_lags(x, 2).tolist()]
    assert full.text(0) == shared + " Input statistics: min 0.000, max 3.000, median 2.000, trend upward, " \
                                    f"top 2 lags {lags[0]}."
    assert full.rows[1].endswith(f"trend downward, top 2 lags {lags[1]}.")


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_llm_is_frozen_and_width_read_from_config(tmp_path, backend):
    model = build_pred(llm_cfg(tmp_path, llm_backend=backend), N)
    llm = model.forecaster.llm
    assert all(not p.requires_grad for p in llm.parameters())
    assert model.forecaster.d_llm == llm.config.hidden_size
    model.train()
    assert not llm.training


@pytest.mark.parametrize("backend", ["gpt2", "llama"])
@pytest.mark.parametrize("mode", PROMPT_MODES)
def test_prefix_cache_equals_plain_path(tmp_path, backend, mode):
    """Same predictions and the same gradients on every trainable parameter, to 1e-5."""
    cfg = llm_cfg(tmp_path, llm_backend=backend, llm_prompt_mode=mode, is_mas=True, dropout=0.0)
    torch.manual_seed(0)
    cached = build_pred(cfg, N)
    plain = build_pred(cfg.replace(llm_prefix_cache=False), N)
    plain.load_state_dict(cached.state_dict())
    assert cached.forecaster.use_cache and not plain.forecaster.use_cache
    assert cached.forecaster.llm.config._attn_implementation == "shared_prefix_sdpa"
    x = torch.rand(4, cfg.context_len, N, cfg.in_channels)
    outs = []
    for model in (cached, plain):
        model.train()
        y = model(x)
        (y ** 2).mean().backward()
        outs.append((y.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}))
    torch.testing.assert_close(outs[0][0], outs[1][0], atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # a second call reuses the memorised prefix and must not drift
        torch.testing.assert_close(cached(x), outs[0][0], atol=1e-6, rtol=1e-6)
    assert outs[0][1].keys() == outs[1][1].keys() and len(outs[0][1]) > 0
    for name, g in outs[0][1].items():
        torch.testing.assert_close(g, outs[1][1][name], atol=1e-5, rtol=1e-5, msg=name)


def test_row_prompts_are_computed_once_per_batch(tmp_path, monkeypatch):
    """A training step runs the predictor on one batch several times: the row prompts' keys/values
    are computed once, and reusing them after an optimizer step gives what a fresh computation gives."""
    cfg = llm_cfg(tmp_path, llm_prompt_mode="stats_short", dropout=0.0)
    model = build_pred(cfg, N).train()
    calls = []
    compute = model.forecaster.compute_row_keys_values
    monkeypatch.setattr(model.forecaster, "compute_row_keys_values", lambda *a: calls.append(1) or compute(*a))
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    x = torch.rand(3, cfg.context_len, N, 1)
    model(x).pow(2).mean().backward()
    opt.step()
    again = model(x)
    assert len(calls) == 1
    model.forecaster._forget()
    torch.testing.assert_close(again, model(x), atol=1e-6, rtol=1e-6)
    model(torch.rand(3, cfg.context_len, N, 1))
    assert len(calls) == 3


def test_llm_window_does_not_depend_on_its_batch(tmp_path):
    cfg = llm_cfg(tmp_path, llm_prompt_mode="stats")
    model = build_pred(cfg, N).eval()
    x = torch.rand(6, cfg.context_len, N, 1)
    with torch.no_grad():
        torch.testing.assert_close(model(x[:1]), model(x)[:1], atol=1e-5, rtol=1e-5)


def test_scoring_in_chunks_equals_one_pass(tmp_path):
    cfg = llm_cfg(tmp_path, llm_prompt_mode="stats_short")
    model = build_pred(cfg, N).eval()
    x = torch.rand(5, cfg.context_len, N, 1)
    whole = model(x).detach()                     # with gradients: one pass
    model.infer_rows = 4                          # 15 series in chunks of 4, 4, 4, 3
    with torch.no_grad():
        torch.testing.assert_close(model(x), whole, atol=1e-5, rtol=1e-5)


def test_llm_use_mas_changes_the_inputs(tmp_path):
    cfg = llm_cfg(tmp_path, is_mas=True)
    with_mas, without = build_pred(cfg, N), build_pred(cfg.replace(llm_use_mas=False), N)
    x = torch.rand(2, cfg.context_len, N, cfg.in_channels)
    assert with_mas(x).shape == without(x).shape == (2, cfg.n_pred, N)
    head_in = lambda m: m.forecaster.head[1].in_features
    assert head_in(with_mas) == cfg.in_channels * head_in(without)


@pytest.mark.parametrize("backend,cache", [("gpt2", True), ("gpt2", False), ("llama", True), ("llama", False),
                                           ("bert", False)])
def test_padded_prompts_match_single_row_runs(tmp_path, backend, cache):
    """Rows with prompts of different lengths share one padded call; each row must
    get exactly what it gets alone, with its prompt unpadded in front of its tokens."""
    cfg = llm_cfg(tmp_path, llm_backend=backend, llm_prompt_mode="stats", dropout=0.0, llm_prefix_cache=cache)
    f = build_pred(cfg, N).forecaster.eval()
    prompts = Prompts("Shared text.", [" a", " a much longer row text", " a", ""])
    tokens = torch.randn(4, 5, f.d_llm)
    with torch.no_grad():
        lay = PromptLayout.build(f, prompts, 4, tokens.device)
        assert lay.row_ids.shape[0] == 3  # the repeated row is run once
        got = (f._run_cached if f.use_cache else f._run_plain)(tokens, lay)
        for i in range(4):
            ids = torch.tensor(f.tokenizer.encode(prompts.shared) + f.tokenizer.encode(prompts.rows[i]))
            alone = torch.cat([f.embed(ids), tokens[i]])[None]
            ref = f.llm(inputs_embeds=alone, use_cache=False).last_hidden_state[0, len(ids):]
            torch.testing.assert_close(got[i], ref, atol=1e-5, rtol=1e-5)


def test_training_step_changes_trainable_weights_only(tmp_path):
    cfg = llm_cfg(tmp_path, llm_prompt_mode="stats_short", llm_backend="llama")
    model = build_pred(cfg, N)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    model(torch.rand(4, cfg.context_len, N, 1)).pow(2).mean().backward()
    opt.step()
    for name, p in model.named_parameters():
        changed = not torch.equal(p, before[name])
        assert changed == p.requires_grad, name
        assert p.requires_grad == (not name.startswith("forecaster.llm.")), name


def test_checkpoint_leaves_the_frozen_llm_out(tmp_path):
    cfg = llm_cfg(tmp_path)
    model = build_pred(cfg, N)
    state = model.state_dict()
    assert state and not any(k.startswith("forecaster.llm.") for k in state)
    torch.manual_seed(1)
    other = build_pred(cfg, N)  # rebuilt, as test.py does: the same frozen LLM, other trainable weights
    other.load_state_dict(state)  # strict: the missing LLM keys are expected
    x = torch.rand(2, cfg.context_len, N, 1)
    model.eval(), other.eval()
    torch.testing.assert_close(model(x), other(x))


def test_eval_prototypes_are_computed_once_and_equal(tmp_path):
    model = build_pred(llm_cfg(tmp_path), N).eval()
    f = model.forecaster
    with torch.no_grad():
        first = f.text_prototypes()
        assert f.text_prototypes() is first
    with torch.enable_grad():
        torch.testing.assert_close(f.text_prototypes(), first)
    model.train()
    assert f._eval_prototypes is None


def test_vocab_subset_shrinks_the_prototype_map(tmp_path):
    model = build_pred(llm_cfg(tmp_path, llm_vocab_subset=100), N)
    assert model.forecaster.prototypes.in_features == 100
    assert model(torch.rand(2, 10, N, 1)).shape == (2, 2, N)


def test_skip_layers_ablation_bypasses_the_llm(tmp_path, monkeypatch):
    cfg = llm_cfg(tmp_path, llm_prompt_mode="stats")
    full, skipped = build_pred(cfg, N).eval(), build_pred(cfg.replace(llm_skip_layers=True), N).eval()
    skipped.load_state_dict(full.state_dict())                # the same trainable weights
    x = torch.rand(2, cfg.context_len, N, 1)
    calls = []
    monkeypatch.setattr(skipped.forecaster.llm, "forward", lambda *a, **k: calls.append(1))
    out = skipped(x)
    assert out.shape == (2, cfg.n_pred, N) and not calls      # the LLM never runs
    f = skipped.forecaster                                    # the head reads the reprogrammed patches
    series = x.permute(0, 2, 3, 1).reshape(2 * N, 1, -1)
    mean, std = series.mean(-1, keepdim=True), torch.sqrt(series.var(-1, keepdim=True, unbiased=False) + 1e-5)
    by_hand = f.head(f.patch_tokens((series - mean) / std)[..., : f.d_ff]) * std[:, 0] + mean[:, 0]
    torch.testing.assert_close(out, by_hand.reshape(2, N, -1).transpose(1, 2))
    assert not torch.allclose(out, full(x))                   # and the layers did change the forecast


def test_every_dataset_has_a_prompt_bank_description():
    from lib.data import DATASETS, get_spec
    from model.llm.prompts import PROMPT_BANK

    get_spec("synthetic")                                     # fills the registry
    missing = [name for name in DATASETS if not (PROMPT_BANK / f"{name}.txt").is_file()]
    assert missing == []
