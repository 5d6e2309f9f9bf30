"""Long-horizon forecasting on the standard protocol (ETT 12/4/4 months, scaled on train).

    python forecast.py --data ETTh1 --data_root ../shared/datasets --model dlinear --seq_len 96 --pred_len 96

Writes expe/results/forecast/<run>.json (config, MSE and MAE on the scaled test set, the
training history, parameters, seconds per epoch, peak memory) and a .png of a few forecasts;
the best weights go to expe/pth/. The training state is saved after every epoch, and
`--resume True` continues an interrupted run from it.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from lib.config import Config, config_from_cli
from lib.data.forecasting import forecast_splits
from lib.errors import cli_main
from lib.hardware import peak_memory_mb
from lib.outputs.report import write_json
from lib.runfiles import check_writable, run_lock
from lib.train import checkpoint
from lib.train.forecasting import evaluate, fit, learning_rate
from lib.utils import seed_everything, set_threads_and_quiet, setup_logging
from model.forecasters import has_weights
from model.registry import build_forecaster, forecaster_names


def run_name(cfg: Config) -> str:
    few = f"_p{cfg.percent}" if cfg.percent < 100 else ""
    return f"{cfg.data_tag}_{cfg.forecaster}_{cfg.seq_len}-{cfg.pred_len}{few}_seed{cfg.seed}"


def plot_forecasts(model, series: np.ndarray, cfg: Config, names: list[str], title: str, path: Path) -> None:
    """Three test windows of the first channel: input, truth and forecast."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    L, H = cfg.seq_len, cfg.pred_len
    starts = np.linspace(0, series.shape[0] - L - H, 3).astype(int)
    fig, axes = plt.subplots(3, 1, figsize=(10, 7))
    with torch.no_grad():
        for ax, s in zip(axes, starts):
            x = torch.from_numpy(series[s:s + L, 0])[None]
            ax.plot(range(L + H), series[s:s + L + H, 0], color="tab:blue", label="truth")
            ax.plot(range(L, L + H), model(x)[0].numpy(), color="tab:orange", label="forecast")
            ax.axvline(L - 0.5, color="grey", lw=0.8)
            ax.set_ylabel(f"{names[0]} (scaled)\nstart {s}")
    axes[0].legend(loc="upper left", fontsize=8)
    axes[0].set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """Trainable and total parameters (the frozen LLM's included in the total)."""
    return {"trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total": sum(p.numel() for p in model.parameters())}


def forecast_and_report(cfg: Config, root: Path, name: str) -> dict:
    log = setup_logging(root / "log" / "forecast" / f"{name}.log")
    seed_everything(cfg.seed)
    splits = forecast_splits(cfg)
    model = build_forecaster(cfg)
    cfg = cfg.replace(fc_lr=learning_rate(cfg, model))   # saved, so the result says which rate ran
    counts = parameter_counts(model)
    log.info("%s: %s, lookback %d, horizon %d, %d features; steps train %d, val %d, test %d; %d of %d parameters "
             "trainable; learning rate %g", splits.source, cfg.forecaster, cfg.seq_len, cfg.pred_len,
             len(splits.names), len(splits.train), len(splits.val), len(splits.test), counts["trainable"],
             counts["total"], cfg.fc_lr)
    t0 = time.perf_counter()
    model, fitted = fit(model, splits, cfg, root / "pth" / f"forecast_{name}_last.pth")
    fit_s = time.perf_counter() - t0
    test = evaluate(model, torch.from_numpy(splits.test), cfg)
    if has_weights(model):
        checkpoint.save_atomic({"config": cfg.to_dict(), "model": model.state_dict(), "epoch": fitted.best_epoch,
                                "git_commit": checkpoint.git_commit()}, root / "pth" / f"forecast_{name}.pth")
    result = {"config": cfg.to_dict(), "seed": cfg.seed, "git_commit": checkpoint.git_commit(),
              "protocol": "long-horizon: 12/4/4-month ETT split (70/10/20 % otherwise), scaled on train, stride-1 "
                          "windows, channel independent, every validation and test window kept",
              "data": {"source": splits.source, "features": len(splits.names), "percent": cfg.percent},
              "metrics": {"mse": test["mse"], "mae": test["mae"], "test_samples": test["samples"]},
              "training": {"best_epoch": fitted.best_epoch, "best_val_mse": fitted.best_val,
                           "history": fitted.history, "fit_seconds": fit_s + fitted.earlier_seconds(),
                           "resumed_after_epoch": fitted.resumed_epochs,
                           "seconds_per_epoch": (sum(h["seconds"] for h in fitted.history) / len(fitted.history)
                                                 if fitted.history else 0.0),
                           "parameters": counts, "peak_memory_mb": peak_memory_mb()}}
    path = root / "results" / "forecast" / f"{name}.json"
    write_json(result, path)
    plot_forecasts(model, splits.test, cfg, splits.names, f"{splits.source}: {cfg.forecaster}, MSE {test['mse']:.3f}",
                   path.with_suffix(".png"))
    log.info("results: %s", path)
    print(f"{cfg.forecaster} on {splits.source} ({cfg.seq_len}->{cfg.pred_len}{', ' + str(cfg.percent) + ' %' if cfg.percent < 100 else ''}): "
          f"MSE {test['mse']:.4f}  MAE {test['mae']:.4f}  ({test['samples']} test samples, best epoch "
          f"{fitted.best_epoch}, fit {fit_s:.1f}s)")
    return result


@cli_main
def main() -> None:
    cfg = config_from_cli(__doc__.splitlines()[0], "forecaster", forecaster_names())
    set_threads_and_quiet(cfg)
    root, name = Path(cfg.expe_dir), run_name(cfg)
    check_writable((root / "log" / "forecast", root / "results" / "forecast", root / "pth"))
    with run_lock(root / "results" / "forecast" / f"{name}.lock"):
        forecast_and_report(cfg, root, name)


if __name__ == "__main__":
    main()
