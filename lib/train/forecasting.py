"""Training and evaluating a forecaster on `ForecastSplits`: Adam on the MSE, the learning
rate halved after each epoch (`--fc_lradj type1`), early stopping on the validation MSE with
`--patience`, the best epoch's weights kept; MSE and MAE over every test sample."""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from tqdm import tqdm

from lib.data.forecasting import ForecastSplits, forecast_batches, n_windows

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


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, series: torch.Tensor, cfg, epoch: int) -> float:
    """One pass over the training samples in a seeded order; the mean training MSE."""
    model.train()
    total = n_windows(series.shape[0], cfg.seq_len, cfg.pred_len)
    order = torch.randperm(total, generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch))
    losses = []
    bar = tqdm(forecast_batches(series, cfg.seq_len, cfg.pred_len, cfg.fc_batch_size, order),
               total=-(-total // cfg.fc_batch_size), desc=f"epoch {epoch}/{cfg.epochs}", leave=False, disable=None,
               mininterval=1.0)
    for x, y in bar:
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return sum(losses) / max(len(losses), 1)


def fit(model: nn.Module, splits: ForecastSplits, cfg) -> tuple[nn.Module, FitResult]:
    """Train `model` (when it has weights) and return its best-validation version."""
    train, val_series = torch.from_numpy(splits.train), torch.from_numpy(splits.val)
    result = FitResult()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:   # naive forecasters: nothing to learn
        return model, result
    opt = torch.optim.Adam(params, lr=cfg.fc_lr)
    best_state, bad = copy.deepcopy(model.state_dict()), 0
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        train_mse = train_epoch(model, opt, train, cfg, epoch)
        seconds = time.perf_counter() - t0
        val = evaluate(model, val_series, cfg)
        result.history.append({"epoch": epoch, "train_mse": train_mse, "val_mse": val["mse"], "seconds": seconds})
        improved = val["mse"] < result.best_val_mse
        if improved:
            result.best_epoch, result.best_val_mse, bad = epoch, val["mse"], 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
        log.info("epoch %d: train MSE %.4f | val MSE %.4f | %.1fs%s", epoch, train_mse, val["mse"], seconds,
                 "  * best" if improved else "")
        if cfg.patience and bad >= cfg.patience:
            log.info("early stop: validation MSE has not improved for %d epochs", bad)
            break
        if cfg.fc_lradj == "type1":   # as Autoformer's adjust_learning_rate: epochs 1 and 2 at the full rate
            for group in opt.param_groups:
                group["lr"] = cfg.fc_lr * 0.5 ** (epoch - 1)
    model.load_state_dict(best_state)
    return model, result
