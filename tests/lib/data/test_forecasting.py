"""The long-horizon forecasting protocol: splits, windows, batch-size invariance, forecasters,
and forecast.py end to end on a tiny generic dataset."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from lib.config import Config
from lib.errors import UserError
from lib.data.forecasting import forecast_batches, forecast_splits, n_windows, part_borders
from lib.train import checkpoint
from lib.train.forecasting import evaluate, fit
from model.forecasters import DLinear, moving_average
from model.registry import build_forecaster
from tests.conftest import REPO, stopped_at_call


def test_ett_borders_are_the_standard_ones():
    assert part_borders("ETTh1", 17420, 96, 100) == [(0, 8640), (8544, 11520), (11424, 14400)]
    assert part_borders("ETTm2", 69680, 96, 100) == [(0, 34560), (34464, 46080), (45984, 57600)]
    # few-shot: the first 10 % of the training windows, as Time-LLM cuts them
    assert part_borders("ETTh1", 17420, 96, 10)[0] == (0, (8640 - 96) * 10 // 100 + 96)
    # any other series: Autoformer's 70 / 10 / 20 %
    assert part_borders("generic", 1000, 24, 100) == [(0, 700), (676, 800), (776, 1000)]


def test_batches_cover_every_window_and_channel_once():
    series = torch.arange(40 * 3, dtype=torch.float32).reshape(40, 3)
    xs, ys = zip(*forecast_batches(series, 6, 4, batch_size=7))
    x, y = torch.cat(xs), torch.cat(ys)
    W = n_windows(40, 6, 4)
    assert x.shape == (W * 3, 6) and y.shape == (W * 3, 4)
    # row b*N + n: window b, channel n; its target follows its input
    torch.testing.assert_close(x[5], series[1:7, 2])
    torch.testing.assert_close(y[5], series[7:11, 2])


def test_metrics_do_not_depend_on_the_batch_size():
    cfg = Config(seq_len=12, pred_len=6, forecaster="dlinear")
    torch.manual_seed(0)
    model = DLinear(cfg)
    series = torch.randn(101, 4)
    a, b = evaluate(model, series, cfg, batch_size=1), evaluate(model, series, cfg, batch_size=64)
    assert a["samples"] == b["samples"] == n_windows(101, 12, 6) * 4
    assert a["mse"] == pytest.approx(b["mse"], rel=1e-9) and a["mae"] == pytest.approx(b["mae"], rel=1e-9)


def test_naive_forecasters_and_dlinear_decomposition():
    cfg = Config(seq_len=8, pred_len=5, season_len=3)
    x = torch.arange(16, dtype=torch.float32).reshape(2, 8)
    torch.testing.assert_close(build_forecaster(cfg.replace(forecaster="naive"))(x), x[:, -1:].expand(2, 5))
    torch.testing.assert_close(build_forecaster(cfg.replace(forecaster="seasonal_naive"))(x)[0],
                               torch.tensor([5.0, 6, 7, 5, 6]))
    # the moving average of a series padded with its edge values (DLinear's decomposition)
    series = np.array([1.0, 2, 4, 8, 16])
    padded = np.r_[[1.0], series, [16.0]]
    expect = np.convolve(padded, np.ones(3) / 3, mode="valid")
    np.testing.assert_allclose(moving_average(torch.tensor(series)[None], 3)[0].numpy(), expect)


def write_generic(folder, n=600, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    df = pd.DataFrame({f"c{i}": np.sin(2 * np.pi * t / 24 + i) + 0.1 * rng.standard_normal(n) for i in range(3)})
    folder.mkdir(parents=True, exist_ok=True)
    df.to_csv(folder / "train.csv", index=False)
    df.assign(label=0).to_csv(folder / "test.csv", index=False)


def test_dlinear_learns_a_seasonal_series_better_than_naive(tmp_path):
    write_generic(tmp_path / "data")
    cfg = Config(data="generic", data_root=str(tmp_path / "data"), seq_len=48, pred_len=24, epochs=3, patience=0,
                 seed=1)
    splits = forecast_splits(cfg)
    test = torch.from_numpy(splits.test)
    naive = evaluate(build_forecaster(cfg.replace(forecaster="naive")), test, cfg)["mse"]
    model, fitted = fit(build_forecaster(cfg), splits, cfg)
    assert fitted.best_epoch >= 1 and evaluate(model, test, cfg)["mse"] < 0.5 * naive


def test_forecast_py_end_to_end(tmp_path):
    write_generic(tmp_path / "data")
    common = [sys.executable, "forecast.py", "--data", "generic", "--data_root", str(tmp_path / "data"), "--seq_len",
              "24", "--pred_len", "12", "--epochs", "1", "--expe_dir", str(tmp_path / "expe")]
    done = subprocess.run([*common, "--model", "dlinear"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (result,) = (tmp_path / "expe" / "results" / "forecast").glob("*dlinear_24-12_seed666.json")
    out = json.loads(result.read_text())
    assert out["config"]["forecaster"] == "dlinear" and np.isfinite(out["metrics"]["mse"])
    assert result.with_suffix(".png").is_file() and "MSE" in done.stdout
    bad = subprocess.run([*common, "--seq_len", "5000"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "fewer than --seq_len" in bad.stderr


def test_forecast_py_runs_llm_ps_on_a_tiny_llm(tmp_path):
    write_generic(tmp_path / "data", n=300)
    done = subprocess.run([sys.executable, "forecast.py", "--data", "generic", "--data_root", str(tmp_path / "data"),
                           "--model", "llm_ps", "--llm_model", "tiny", "--llm_layers", "1", "--seq_len", "32",
                           "--pred_len", "8", "--epochs", "1", "--llm_d_model", "8", "--llm_num_tokens", "8",
                           "--ps_channels", "8", "--ps_t2t_dim", "16", "--expe_dir", str(tmp_path / "expe")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (result,) = (tmp_path / "expe" / "results" / "forecast").glob("*llm_ps_32-8_seed666.json")
    out = json.loads(result.read_text())
    assert out["config"]["fc_lr"] == 0.001                       # --fc_lr 0 resolved and saved
    training = out["training"]
    assert 0 < training["parameters"]["trainable"] < training["parameters"]["total"]
    assert training["seconds_per_epoch"] > 0 and training["peak_memory_mb"] > 0 and np.isfinite(out["metrics"]["mae"])


def test_a_resumed_fit_ends_where_an_uninterrupted_one_does(tmp_path):
    write_generic(tmp_path / "data")
    cfg = Config(data="generic", data_root=str(tmp_path / "data"), seq_len=24, pred_len=12, epochs=3, patience=0,
                 forecaster="patchtst", fc_d_model=16, fc_d_ff=32)
    splits = forecast_splits(cfg)

    def run(c, path):
        torch.manual_seed(0)
        return fit(build_forecaster(c), splits, c, path)

    whole, straight = run(cfg, tmp_path / "a.pth")
    _, first = run(cfg.replace(epochs=1), tmp_path / "b.pth")
    resumed, again = run(cfg.replace(resume=True), tmp_path / "b.pth")
    assert [h["val_mse"] for h in again.history] == [h["val_mse"] for h in straight.history]
    # the first process's epoch counts in the resumed run's time
    assert (straight.resumed_epochs, again.resumed_epochs) == (0, 1) and straight.earlier_seconds() == 0
    assert again.earlier_seconds() == first.epoch_seconds() > 0
    # and its peak memory, which each epoch records as its process's so far
    assert again.earlier_peak_gb() == first.history[0]["peak_gb"] > 0 and straight.earlier_peak_gb() == 0
    assert again.history[0]["git_commit"] == checkpoint.git_commit()
    torch.testing.assert_close(resumed.state_dict(), whole.state_dict())
    with pytest.raises(UserError, match="other settings"):
        run(cfg.replace(resume=True, pred_len=6), tmp_path / "b.pth")


def test_a_state_file_of_the_first_format_still_resumes(tmp_path):
    from lib.train import checkpoint
    from lib.train.epochs import BestWeights
    cfg = Config(forecaster="dlinear", seq_len=12, pred_len=6, resume=True)
    model = DLinear(cfg)
    opt = torch.optim.Adam(model.parameters())
    checkpoint.save_atomic({"config": cfg.to_dict(), "model": model.state_dict(), "opt": opt.state_dict(),
                            "fit": {"best_epoch": 2, "best_val_mse": 0.5, "history": [{"epoch": 1}, {"epoch": 2}]},
                            "best": model.state_dict(), "bad": 1, "rng": torch.get_rng_state()}, tmp_path / "s.pth")
    result = BestWeights(model, opt, cfg, tmp_path / "s.pth").resume("run")
    assert (result.best_val, result.bad_epochs, len(result.history)) == (0.5, 1, 2)


def test_a_fit_stopped_within_an_epoch_resumes_after_its_last_saved_batch(tmp_path, monkeypatch):
    import lib.train.forecasting as tf
    write_generic(tmp_path / "data")
    cfg = Config(data="generic", data_root=str(tmp_path / "data"), seq_len=24, pred_len=12, epochs=2, patience=0,
                 forecaster="patchtst", fc_d_model=16, fc_d_ff=32, fc_batch_size=64, save_every_min=1e-9)
    splits = forecast_splits(cfg)

    def run(c, path=None):
        torch.manual_seed(0)
        return fit(build_forecaster(c), splits, c, path)

    whole, straight = run(cfg)
    stopped_at_call(monkeypatch, tf, "training_loss", 3, lambda: run(cfg, tmp_path / "s.pth"))
    resumed, again = run(cfg.replace(resume=True), tmp_path / "s.pth")
    torch.testing.assert_close(resumed.state_dict(), whole.state_dict())
    assert [h["val_mse"] for h in again.history] == [h["val_mse"] for h in straight.history]
    assert again.history[0]["before_resume"]["batches"] == 2 and again.resumed_epochs == 0
    assert again.earlier_seconds() == again.history[0]["before_resume"]["seconds"] > 0
