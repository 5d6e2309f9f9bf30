"""Training and evaluating a forecaster on `ForecastSplits`: Adam on the MSE (or on the
model's own `loss(x, y)`, which returns the training loss and the forecast MSE), the learning
rate halved after each epoch (`--fc_lradj type1`), early stopping on the validation MSE with
`--patience`, the best epoch's weights kept; MSE and MAE over every test sample.

After every epoch, and within one every `--save_every_min` minutes, the whole training state goes
to one file, so `--resume True` continues an interrupted run where it stopped, with the same
result as an uninterrupted one."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
import torch.nn as nn

from lib.data.forecasting import ForecastSplits, forecast_batches, n_windows
from lib.errors import UserError
from lib.train.epochs import BestWeights, FitResult

log = logging.getLogger("llm_tsad")


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


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, series: torch.Tensor, cfg, epoch: int,
                keeper: BestWeights, result: FitResult) -> dict:
    """One pass over the training samples in a seeded order (`keeper.run_epoch`: resumable within
    the epoch); its row: the mean training forecast MSE, and the seconds."""
    model.train()
    total = n_windows(series.shape[0], cfg.seq_len, cfg.pred_len)
    order = torch.randperm(total, generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch))

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> float:
        loss, mse = training_loss(model, *batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return mse.item()

    ran = keeper.run_epoch(result, epoch, forecast_batches(series, cfg.seq_len, cfg.pred_len, cfg.fc_batch_size, order),
                           -(-total // cfg.fc_batch_size), step)
    losses = ran.pop("losses")
    return {"train_mse": sum(losses) / max(len(losses), 1), **ran}


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
    keeper = BestWeights(model, opt, cfg, state_path)
    result = keeper.resume("resumable forecasting run")
    for epoch in result.epochs_to_run(cfg):
        ran = train_epoch(model, opt, train, cfg, epoch, keeper, result)
        t0 = time.perf_counter()
        val = evaluate(model, val_series, cfg)
        val_seconds = time.perf_counter() - t0
        if val["mse"] != val["mse"] or val["mse"] == float("inf"):
            raise UserError(f"epoch {epoch}: the validation MSE is not finite; stopped (lower --fc_lr)")
        improved = result.record({"epoch": epoch, "train_mse": ran.pop("train_mse"), "val_mse": val["mse"], **ran,
                                  "val_seconds": val_seconds}, val["mse"])
        log.info("epoch %d: train MSE %.4f | val MSE %.4f | %.1fs%s", epoch, result.history[-1]["train_mse"],
                 val["mse"], ran["seconds"], "  * best" if improved else "")
        if cfg.fc_lradj == "type1":   # as Autoformer's adjust_learning_rate: epochs 1 and 2 at the full rate
            for group in opt.param_groups:
                group["lr"] = cfg.fc_lr * 0.5 ** (epoch - 1)
        keeper.after_epoch(result, improved)
    if result.should_stop(cfg.patience):
        log.info("early stop: validation MSE has not improved for %d epochs", result.bad_epochs)
    return keeper.restore(), result
