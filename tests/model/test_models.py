"""Prediction and reconstruction branches on tiny configs, on CPU."""
from __future__ import annotations

import io

import pytest
import torch

from model.registry import PRED, RECON, _load_all, build_pred, build_recon
from tests.conftest import tiny_config

_load_all()
N = 5


@pytest.mark.parametrize("name", sorted(PRED))
def test_prediction_shape_and_backward(tmp_path, name):
    cfg = tiny_config(tmp_path, pred_model=name)
    model = build_pred(cfg, N)
    out = model(torch.rand(4, cfg.context_len, N, cfg.in_channels))
    assert out.shape == (4, cfg.n_pred, N)
    out.pow(2).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", sorted(RECON))
def test_reconstruction_forward_backward_on_cpu(tmp_path, name):
    cfg = tiny_config(tmp_path, recon_model=name)
    model = build_recon(cfg, N)
    w = torch.rand(4, cfg.window_size, N)
    out = model(w)
    assert out.shape == w.shape and ((out >= 0) & (out <= 1)).all()
    torch.nn.functional.mse_loss(out, w).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"


def test_gat_with_mas_channels(tmp_path):
    cfg = tiny_config(tmp_path, is_mas=True)
    assert cfg.in_channels == 5
    assert build_pred(cfg, N)(torch.rand(2, cfg.context_len, N, 5)).shape == (2, cfg.n_pred, N)


def test_gat_window_does_not_depend_on_its_batch(tmp_path):
    """STAMP's public code attends across the windows of a batch; ours must not."""
    cfg = tiny_config(tmp_path)
    model = build_pred(cfg, N).eval()
    torch.manual_seed(1)
    x = torch.rand(16, cfg.context_len, N, 1)
    with torch.no_grad():
        alone = model(x[:1])
        in_batch = model(x)[:1]
        other_batch = model(torch.cat([x[:1], torch.rand(7, cfg.context_len, N, 1)]))[:1]
    torch.testing.assert_close(alone, in_batch, atol=1e-6, rtol=0)
    torch.testing.assert_close(alone, other_batch, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind,name", [("pred", n) for n in sorted(PRED)] + [("recon", n) for n in sorted(RECON)])
def test_save_reload_gives_identical_output(tmp_path, kind, name):
    """Every module is built in __init__ and saved: a reloaded copy under
    another seed reproduces the output exactly."""
    cfg = tiny_config(tmp_path, **({"pred_model": name} if kind == "pred" else {"recon_model": name}))
    build = build_pred if kind == "pred" else build_recon
    torch.manual_seed(0)
    a = build(cfg, N).eval()
    x = torch.rand(3, cfg.context_len, N, 1) if kind == "pred" else torch.rand(3, cfg.window_size, N)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    torch.manual_seed(123)
    b = build(cfg, N).eval()
    buf.seek(0)
    result = b.load_state_dict(torch.load(buf))
    assert not result.missing_keys and not result.unexpected_keys
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), atol=0, rtol=0)
        torch.testing.assert_close(a(x), a(x), atol=0, rtol=0)
