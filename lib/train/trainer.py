"""STAMP's adversarial training loop: two models, two optimisers.

Per batch, with e the epoch (from 1), w_p(e) = pred_w0 / e,
w_r(e) = recon_w0 / e and c(e) = 1 - 1/e:

1. update the predictor on its MSE, and the reconstructor on its MSE;
2. update the predictor on  w_p(e) * pred_loss + c(e) * adv_loss;
3. update the reconstructor on  w_r(e) * recon_loss - c(e) * adv_loss;

where adv_loss is the reconstructor's MSE on the window whose last H steps
were filled in by the predictor. Early on (c = 0 at e = 1) both models learn
their own task; later the predictor learns to produce windows the
reconstructor rebuilds well, while the reconstructor learns to tell them apart.

Model selection: the best epoch by validation pred_loss + recon_loss (the
epoch-dependent weights make the weighted sums incomparable across epochs).

Several processes (`accelerate launch run.py ...`): each takes its share of
every epoch's shuffled windows, gradients are averaged across processes
before each optimiser step (so the models stay identical everywhere), every
process computes the same validation losses, and only the main process
writes checkpoints and logs.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from accelerate import Accelerator

from lib.train import checkpoint
from lib.data.types import Prepared
from lib.data.windows import complete, split_batch, window_bar
from lib.errors import UserError

log = logging.getLogger("llm_tsad")



def schedule(epoch: int, cfg) -> tuple[float, float, float]:
    """(w_p, w_r, c) for `epoch` >= 1."""
    return cfg.pred_w0 / epoch, cfg.recon_w0 / epoch, 1.0 - 1.0 / epoch


@dataclass
class TrainState:
    epoch: int = 0
    best_val: float = float("inf")
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


class Trainer:
    def __init__(self, cfg, pred: nn.Module, recon: nn.Module, data: Prepared, device: torch.device,
                 paths: dict[str, Path], extra: dict[str, Any] | None = None, accelerator: Accelerator | None = None):
        self.cfg, self.pred, self.recon, self.data, self.device, self.paths = cfg, pred, recon, data, device, paths
        self.extra = extra or {}
        self.acc = accelerator
        self.shard = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
        self.opt_p = torch.optim.Adam(self._trainable(pred), lr=cfg.pred_lr, weight_decay=cfg.weight_decay)
        self.opt_r = torch.optim.Adam(self._trainable(recon), lr=cfg.ae_lr, weight_decay=cfg.weight_decay)
        self.train_series = data.train.to(device)
        self.val_series = data.val.to(device)
        self.state = TrainState()
        if self.world > 1:
            self._copy_from_main_process()

    @property
    def world(self) -> int:
        return self.shard[1]

    @property
    def is_main(self) -> bool:
        return self.shard[0] == 0

    @staticmethod
    def _trainable(model: nn.Module) -> list[nn.Parameter]:
        return [p for p in model.parameters() if p.requires_grad]

    def _copy_from_main_process(self) -> None:
        """Start every process from the main process's trainable weights and buffers."""
        for model in (self.pred, self.recon):
            for t in (*self._trainable(model), *model.buffers()):
                torch.distributed.broadcast(t.data, src=0)

    def _update(self, opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        """One optimiser step on `loss`, gradients averaged over the processes first."""
        opt.zero_grad(set_to_none=True)
        if self.acc is None:
            loss.backward()
        else:
            self.acc.backward(loss)
        if self.world > 1:
            for group in opt.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        torch.distributed.all_reduce(p.grad, op=torch.distributed.ReduceOp.AVG)
        opt.step()

    # ---- one batch ---------------------------------------------------------
    def train_step(self, batch: torch.Tensor, epoch: int) -> dict[str, float]:
        cfg = self.cfg
        w_p, w_r, c = schedule(epoch, cfg)
        ctx, target, window = split_batch(batch, cfg)

        # 1. each model on its own task
        pred_loss = F.mse_loss(self.pred(ctx), target)
        self._update(self.opt_p, pred_loss)
        recon_loss = F.mse_loss(self.recon(window), window)
        self._update(self.opt_r, recon_loss)

        # 2. predictor: forecast well and fool the reconstructor
        forecast = self.pred(ctx)
        loss_p = w_p * F.mse_loss(forecast, target)
        adv = torch.zeros((), device=batch.device)
        if c > 0:  # at epoch 1 the adversarial weight is 0: skip the work, same result
            filled = complete(window, forecast)
            adv = F.mse_loss(self.recon(filled), filled)
            loss_p = loss_p + c * adv
        self._update(self.opt_p, loss_p)

        # 3. reconstructor: rebuild real windows, not the predictor's
        loss_r = w_r * F.mse_loss(self.recon(window), window)
        if c > 0:
            with torch.no_grad():
                filled = complete(window, self.pred(ctx))
            loss_r = loss_r - c * F.mse_loss(self.recon(filled), filled)
        self._update(self.opt_r, loss_r)
        return {"pred": pred_loss.item(), "recon": recon_loss.item(), "adv": adv.detach().item(),
                "loss_p": loss_p.item(), "loss_r": loss_r.item()}

    # ---- epochs -------------------------------------------------------------
    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.pred.train()
        self.recon.train()
        sums: dict[str, float] = {}
        n = 0
        bar = window_bar(self.train_series, self.cfg, f"epoch {epoch}/{self.cfg.epochs}", True, epoch,
                         self.cfg.max_train_windows, shard=self.shard)
        for batch in bar:
            losses = self.train_step(batch, epoch)
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
            bar.set_postfix(pred=f"{losses['pred']:.4f}", recon=f"{losses['recon']:.4f}", refresh=False)
        means = {k: v / max(n, 1) for k, v in sums.items()}
        if self.world > 1:   # the logged losses cover every process's windows
            t = torch.tensor(list(means.values()), dtype=torch.float64)
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.AVG)
            means = dict(zip(means, t.tolist()))
        return means

    @torch.no_grad()
    def validation_losses(self, series: torch.Tensor) -> dict[str, float]:
        """Mean pred / recon / adv MSE over every window of `series`, weighted by batch size."""
        self.pred.eval()
        self.recon.eval()
        sums = {"pred": 0.0, "recon": 0.0, "adv": 0.0}
        n = 0
        for batch in window_bar(series, self.cfg, "validation", max_windows=self.cfg.max_val_windows,
                                batch_size=self.cfg.eval_batch_size):
            ctx, target, window = split_batch(batch, self.cfg)
            forecast = self.pred(ctx)
            filled = complete(window, forecast)
            b = batch.shape[0]
            sums["pred"] += F.mse_loss(forecast, target).item() * b
            sums["recon"] += F.mse_loss(self.recon(window), window).item() * b
            sums["adv"] += F.mse_loss(self.recon(filled), filled).item() * b
            n += b
        return {k: v / n for k, v in sums.items()}

    def train(self) -> TrainState:
        cfg = self.cfg
        if cfg.resume:
            self._load_last()
        st = self.state
        while st.epoch < cfg.epochs:
            if cfg.patience and st.bad_epochs >= cfg.patience:
                break
            epoch = st.epoch + 1
            t0 = time.perf_counter()
            tr = self.train_epoch(epoch)
            train_s = time.perf_counter() - t0
            va = self.validation_losses(self.val_series)
            val_loss = va["pred"] + va["recon"]
            if not np.isfinite(val_loss):   # keep what earlier runs or epochs saved
                raise UserError(f"epoch {epoch}: the validation loss is not finite; stopped without saving "
                                f"(earlier checkpoints under {self.paths['last'].parent} are kept); check the "
                                "data's scale, or lower the learning rates")
            improved = val_loss < st.best_val
            st.epoch = epoch
            st.history.append({"epoch": epoch, "train_seconds": train_s, "val_loss": val_loss,
                               **{f"train_{k}": v for k, v in tr.items()}, **{f"val_{k}": v for k, v in va.items()}})
            if improved:
                st.best_val, st.best_epoch, st.bad_epochs = val_loss, epoch, 0
                self._save(self._model_state(), "best")
            else:
                st.bad_epochs += 1
            log.info("epoch %d: train pred %.5f recon %.5f adv %.5f | val pred %.5f recon %.5f adv %.5f | %.1fs%s",
                     epoch, tr["pred"], tr["recon"], tr["adv"], va["pred"], va["recon"], va["adv"], train_s,
                     "  * best, saved" if improved else "")
            self._save(self._resume_state(), "last")
        if cfg.patience and st.bad_epochs >= cfg.patience:
            log.info("early stop: validation loss has not improved for %d epochs", st.bad_epochs)
        log.info("best epoch %d (val loss %.5f) -> %s", st.best_epoch, st.best_val, self.paths["best"])
        return st

    # ---- checkpoints ----------------------------------------------------------
    def _save(self, state: dict[str, Any], which: str) -> None:
        """The main process writes; the others wait until it has."""
        if self.is_main:
            checkpoint.save_atomic(state, self.paths[which])
        if self.world > 1:
            self.acc.wait_for_everyone()

    def _model_state(self) -> dict[str, Any]:
        d = self.data
        return {"config": self.cfg.to_dict(), "pred": self.pred.state_dict(), "recon": self.recon.state_dict(),
                "n_features": d.n_features, "names": d.names, "scaler_min": d.scaler_min,
                "scaler_scale": d.scaler_scale, "epoch": self.state.epoch, "val_loss": self.state.best_val,
                "git_commit": checkpoint.git_commit(), "processes": self.world, **self.extra}

    def _resume_state(self) -> dict[str, Any]:
        return {**self._model_state(), "opt_p": self.opt_p.state_dict(), "opt_r": self.opt_r.state_dict(),
                "train_state": self.state.__dict__,
                "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}}

    def _load_last(self) -> None:
        path = self.paths["last"]
        if not path.is_file():
            log.info("--resume: no earlier run at %s, starting fresh", path)
            return
        ck = checkpoint.load(path, "resumable run")
        checkpoint.check_resumable(ck["config"], self.cfg, path)
        self.pred.load_state_dict(ck["pred"])
        self.recon.load_state_dict(ck["recon"])
        self.opt_p.load_state_dict(ck["opt_p"])
        self.opt_r.load_state_dict(ck["opt_r"])
        self.state = TrainState(**ck["train_state"])
        torch.set_rng_state(ck["rng"]["torch"])
        np.random.set_state(ck["rng"]["numpy"])
        random.setstate(ck["rng"]["python"])
        log.info("resumed from %s after epoch %d", path, self.state.epoch)
