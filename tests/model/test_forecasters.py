"""The long-horizon forecasters beyond the linear ones: PatchTST, Time-LLM and LLM-PS on a tiny
random LLM; LLM-PS's wavelet split and multi-scale branches; LoRA through checkpoints and
the prefix cache."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.config import Config
from lib.train.forecasting import training_loss
from model.llm_ps import MultiScaleBlock, time_word_table, wavelet_split
from model.registry import build_forecaster

TINY = dict(llm_model="tiny", llm_layers=2, seq_len=48, pred_len=12, data="ETTh1", fc_patch_len=8, fc_stride=4,
            llm_d_model=8, llm_d_ff=16, llm_num_tokens=10, ps_channels=8, ps_t2t_dim=16, ps_time_words=12)


def tiny(name: str, **changes) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_forecaster(Config(forecaster=name, **{**TINY, **changes}))


def test_wavelet_parts_add_up_to_the_input_and_match_pywt():
    y = torch.randn(3, 5, 96, dtype=torch.float64)
    long, short = wavelet_split(y)
    torch.testing.assert_close(long + short, y)
    # the long-term part is the low-pass one: it keeps a slow sine, the short-term part a fast one
    t = torch.arange(96, dtype=torch.float64)
    slow, fast = torch.sin(2 * np.pi * t / 48), torch.sin(2 * np.pi * t / 2.5)
    assert wavelet_split(slow)[1][8:-8].abs().max() < 0.05 and wavelet_split(fast)[0][8:-8].abs().max() < 0.2
    pywt = pytest.importorskip("pywt")
    approx, detail = pywt.dwt(y[0, 0].numpy(), "db4", mode="symmetric")
    np.testing.assert_allclose(pywt.idwt(approx, None, "db4", mode="symmetric")[:96], long[0, 0].numpy(), atol=1e-9)


def test_multiscale_branches_see_3_5_7_9_steps():
    torch.manual_seed(0)
    block = MultiScaleBlock(8).double()
    x = torch.randn(1, 8, 40, dtype=torch.float64)
    bumped = x.clone()
    bumped[..., 20] += 1.0
    for k, (a, b) in enumerate(zip(block.branches(x), block.branches(bumped))):
        changed = ((a - b).abs().sum(dim=(0, 1)) > 0).nonzero().flatten()
        assert (changed.min().item(), changed.max().item()) == (20 - k - 1, 20 + k + 1)


@pytest.mark.parametrize("name", ["patchtst", "timellm", "llm_ps"])
def test_forecasters_map_a_lookback_to_the_horizon_and_learn(name):
    model = tiny(name)
    x, y = torch.randn(6, 48), torch.randn(6, 12)
    assert model(x).shape == (6, 12)
    loss, mse = training_loss(model, x, y)
    loss.backward()
    assert torch.isfinite(loss) and mse <= loss + 1e-6
    assert all(p.grad is not None for n, p in model.named_parameters() if p.requires_grad and "t2t.decoder" not in n)


def test_llm_ps_ablations_change_the_model_they_say():
    full, no_mscnn, no_t2t = tiny("llm_ps"), tiny("llm_ps", ps_mscnn=False), tiny("llm_ps", ps_t2t=False)
    assert full.net.mscnn is not None and no_mscnn.net.mscnn is None and no_t2t.net.t2t is None
    x, y = torch.randn(4, 48), torch.randn(4, 12)
    loss, mse = training_loss(no_t2t, x, y)
    assert loss.item() == pytest.approx(mse.item())      # without T2T, the loss is the forecast MSE
    attn = tiny("timellm", llm_one_attention=True)
    assert attn.net.one_attention is not None and attn.prompts(x) is None
    calls = []
    attn.net.llm.forward = lambda *a, **k: calls.append(1)
    assert attn(x).shape == (4, 12) and not calls          # the LLM's layers never run


def test_time_words_are_the_nearest_rows_of_the_word_table():
    model = tiny("llm_ps")
    words = time_word_table(model.net.llm, model.net.tokenizer, 12)
    assert words.shape == (12, model.net.d_llm)
    torch.testing.assert_close(words.norm(dim=-1), torch.ones(12))


def test_lora_weights_survive_save_and_load(tmp_path):
    model = tiny("llm_ps", llm_lora_r=4)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_" in n:
                p.add_(torch.randn_like(p))
    state = model.state_dict()
    lora = [k for k in state if "lora_" in k]
    assert lora and not [k for k in state if ".llm." in k and "lora_" not in k]   # frozen weights stay out
    torch.save(state, tmp_path / "m.pth")
    again = tiny("llm_ps", llm_lora_r=4)
    again.load_state_dict(torch.load(tmp_path / "m.pth", weights_only=True))
    for k in lora:
        torch.testing.assert_close(again.state_dict()[k], state[k])
    x = torch.randn(3, 48)
    model.eval(), again.eval()
    torch.testing.assert_close(again(x), model(x))


def test_prefix_cache_is_refreshed_when_lora_changes():
    cached, plain = tiny("timellm", llm_lora_r=4), tiny("timellm", llm_lora_r=4, llm_prefix_cache=False)
    assert cached.net.use_cache and not plain.net.use_cache
    x = torch.randn(3, 48)

    def outputs():
        plain.load_state_dict(cached.state_dict())
        cached.eval(), plain.eval()
        with torch.no_grad():
            return cached(x), plain(x)

    before, _ = outputs()
    assert cached.net._shared_kv                       # inference memorised the prompt
    # a training step on the adapters: the memorised keys/values are stale from now on
    cached.train()
    loss, _ = training_loss(cached, x, torch.randn(3, 12))
    loss.backward()
    lora_b = [p for n, p in cached.named_parameters() if "lora_B" in n]
    assert any(p.grad.abs().sum() > 0 for p in lora_b)   # gradients reach the adapters
    with torch.no_grad():
        for p in lora_b:
            p.add_(0.5)
    after, expected = outputs()
    torch.testing.assert_close(after, expected, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(after, before)


def test_patchtst_heads_follow_the_scripts():
    assert tiny("patchtst", pred_len=96).encoder[0].attn.num_heads == 2
    assert tiny("patchtst", pred_len=720).encoder[0].attn.num_heads == 16
    assert tiny("patchtst", fc_n_heads=4).encoder[0].attn.num_heads == 4
