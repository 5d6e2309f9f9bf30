"""Training and evaluating a forecaster on `ForecastSplits`: Adam on the MSE (or on the
model's own `loss(x, y)`, which returns the training loss and the forecast MSE), the learning
rate halved after each epoch (`--fc_lradj type1`), early stopping on the validation MSE with
`--patience`, the best epoch's weights kept; MSE and MAE over every test sample.

After every epoch the whole training state goes to one file, so `--resume True` continues
an interrupted run where it stopped, with the same result as an uninterrupted one."""
from __future__ import annotations

import copy
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from tqdm import tqdm

from lib.data.forecasting import ForecastSplits, forecast_batches, n_windows
from lib.errors import UserError
from lib.train import checkpoint

log = logging.getLogger("llm_tsad")


@dataclass
class FitResult:
    best_epoch: int = 0
    best_val_mse: float = float("inf")
    history: list[dict[str, float]] = field(default_factory=list)


@torch.no_grad()
def evaluate(model: nn.Module, series: torch.Tensor, cfg, batch_size: int = 0) -> dict[str, float]:
    """MSE and MAE over every (window, channel) sample of `series` `[T, N]` on the scaled data:
    sums over samples, so the figures do not depend on the batch size."""
    model.eval()
    sq = ab = 0.0
    n = 0
    for x, y in forecast_batches(series, cfg.seq_len, cfg.pred_len, batch_size or cfg.eval_batch_size):
        err = model(x) - y
        sq += float((err.double() ** 2).sum())
        ab += float(err.double().abs().sum())
        n += err.numel()
    return {"mse": sq / n, "mae": ab / n, "samples": n // cfg.pred_len}


def training_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(the loss to minimise, the forecast MSE without gradients) of one batch."""
    if hasattr(model, "loss"):
        return model.loss(x, y)
    loss = nn.functional.mse_loss(model(x), y)
    return loss, loss.detach()


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, series: torch.Tensor, cfg, epoch: int) -> float:
    """One pass over the training samples in a seeded order; the mean training forecast MSE."""
    model.train()
    total = n_windows(series.shape[0], cfg.seq_len, cfg.pred_len)
    order = torch.randperm(total, generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch))
    losses = []
    bar = tqdm(forecast_batches(series, cfg.seq_len, cfg.pred_len, cfg.fc_batch_size, order),
               total=-(-total // cfg.fc_batch_size), desc=f"epoch {epoch}/{cfg.epochs}", leave=False, disable=None,
               mininterval=1.0)
    for x, y in bar:
        loss, mse = training_loss(model, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(mse.item())
    return sum(losses) / max(len(losses), 1)


def learning_rate(cfg, model: nn.Module) -> float:
    """`--fc_lr`, or when it is 0 the forecaster's published rate (its class's DEFAULT_LR)."""
    return cfg.fc_lr or getattr(type(model), "DEFAULT_LR", 0.0)


def fit(model: nn.Module, splits: ForecastSplits, cfg, state_path: Path | None = None) -> tuple[nn.Module, FitResult]:
    """Train `model` (when it has weights) and return its best-validation version. With
    `state_path`, the training state is saved there after every epoch, and resumed from it
    under `--resume True`."""
    train, val_series = torch.from_numpy(splits.train), torch.from_numpy(splits.val)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:   # naive forecasters: nothing to learn
        return model, FitResult()
    cfg = cfg.replace(fc_lr=learning_rate(cfg, model))
    opt = torch.optim.Adam(params, lr=cfg.fc_lr)
    result, best_state, bad = FitResult(), copy.deepcopy(model.state_dict()), 0
    if state_path is not None and cfg.resume and state_path.is_file():
        result, best_state, bad = resume(model, opt, state_path, cfg)
    for epoch in range(len(result.history) + 1, cfg.epochs + 1):
        if cfg.patience and bad >= cfg.patience:
            break
        t0 = time.perf_counter()
        train_mse = train_epoch(model, opt, train, cfg, epoch)
        seconds = time.perf_counter() - t0
        val = evaluate(model, val_series, cfg)
        val_seconds = time.perf_counter() - t0 - seconds
        if val["mse"] != val["mse"] or val["mse"] == float("inf"):
            raise UserError(f"epoch {epoch}: the validation MSE is not finite; stopped (lower --fc_lr)")
        result.history.append({"epoch": epoch, "train_mse": train_mse, "val_mse": val["mse"], "seconds": seconds,
                               "val_seconds": val_seconds})
        improved = val["mse"] < result.best_val_mse
        if improved:
            result.best_epoch, result.best_val_mse, bad = epoch, val["mse"], 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
        log.info("epoch %d: train MSE %.4f | val MSE %.4f | %.1fs%s", epoch, train_mse, val["mse"], seconds,
                 "  * best" if improved else "")
        if cfg.fc_lradj == "type1":   # as Autoformer's adjust_learning_rate: epochs 1 and 2 at the full rate
            for group in opt.param_groups:
                group["lr"] = cfg.fc_lr * 0.5 ** (epoch - 1)
        if state_path is not None:
            checkpoint.save_atomic({"config": cfg.to_dict(), "model": model.state_dict(), "opt": opt.state_dict(),
                                    "fit": dataclasses.asdict(result), "best": best_state, "bad": bad,
                                    "rng": torch.get_rng_state()}, state_path)
    if cfg.patience and bad >= cfg.patience:
        log.info("early stop: validation MSE has not improved for %d epochs", bad)
    model.load_state_dict(best_state)
    return model, result


def resume(model: nn.Module, opt: torch.optim.Optimizer, path: Path, cfg) -> tuple[FitResult, dict, int]:
    """Load the state `fit` saved after its last epoch; (result so far, best weights, epochs without progress)."""
    ck = checkpoint.load(path, "resumable forecasting run")
    checkpoint.check_resumable(ck["config"], cfg, path)
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["opt"])
    torch.set_rng_state(ck["rng"])
    result = FitResult(**ck["fit"])
    log.info("resumed from %s after epoch %d", path, len(result.history))
    return result, ck["best"], ck["bad"]
