"""What the epoch loops of forecast.py and reason.py share: the record of a fit, keeping the
best validation epoch, and the training state saved after every epoch, and within an epoch every
`--save_every_min` minutes, for `--resume True`."""
from __future__ import annotations

import copy
import dataclasses
import itertools
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
import torch.nn as nn

from lib.hardware import peak_memory_mb
from lib.train import checkpoint
from lib.utils import progress

log = logging.getLogger("llm_tsad")


@dataclass
class FitResult:
    best_epoch: int = 0
    best_val: float = float("inf")
    history: list[dict[str, float]] = field(default_factory=list)
    bad_epochs: int = 0          # epochs since the best one
    resumed_epochs: int = 0      # epochs that earlier processes ran before this one resumed
    # the unfinished epoch of the last save within one: epoch, losses of its batches so far, their
    # training seconds, and the peak GB and commits of the processes that ran them
    partial: dict[str, Any] | None = None

    def record(self, row: dict[str, float], val: float) -> bool:
        """Add an epoch's `row` with validation figure `val` (lower is better), the process's peak
        memory so far (`peak_gb`) and its code's commit: a resumed run's earlier processes are gone.
        True if it is the best."""
        self.history.append({**row, "peak_gb": peak_memory_mb() / 1024, "git_commit": checkpoint.git_commit()})
        if val < self.best_val:
            self.best_epoch, self.best_val, self.bad_epochs = row["epoch"], val, 0
            return True
        self.bad_epochs += 1
        return False

    def epoch_seconds(self, epochs: int | None = None) -> float:
        """Training and validation seconds of the first `epochs` epochs (default: all of them)."""
        return sum(h["seconds"] + h.get("val_seconds", 0.0) for h in self.history[:epochs])

    def earlier_seconds(self) -> float:
        """The epoch seconds of the processes before this one (with the batches they ran of an epoch
        this one finished): add them to this process's time to get a resumed run's whole time."""
        within = sum(h["before_resume"]["seconds"] for h in self.history[self.resumed_epochs:] if "before_resume" in h)
        return self.epoch_seconds(self.resumed_epochs) + within

    def earlier_peak_gb(self) -> float:
        """The largest peak memory (GB) of the processes before this one, as their epochs recorded it:
        0 if there were none, NaN if an epoch of theirs did not record it."""
        earlier = [h.get("peak_gb", float("nan")) for h in self.history[: self.resumed_epochs]]
        earlier += [h["before_resume"]["peak_gb"] for h in self.history if "before_resume" in h]
        return float("nan") if any(math.isnan(gb) for gb in earlier) else max(earlier, default=0.0)

    def should_stop(self, patience: int) -> bool:
        return bool(patience) and self.bad_epochs >= patience

    def epochs_to_run(self, cfg):
        """The epochs after those already recorded, up to `--epochs`, while `--patience` allows."""
        for epoch in range(len(self.history) + 1, cfg.epochs + 1):
            if self.should_stop(cfg.patience):
                return
            yield epoch


class BestWeights:
    """The weights of the best epoch so far, and the state file saved after every epoch."""

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, cfg, state_path: Path | None):
        self.model, self.opt, self.cfg, self.path = model, opt, cfg, state_path
        self.best = copy.deepcopy(model.state_dict())

    def resume(self, what: str) -> FitResult:
        """The state saved after the last finished epoch, under `--resume True`; else a fresh result."""
        if self.path is None or not self.cfg.resume or not self.path.is_file():
            return FitResult()
        ck = checkpoint.load(self.path, what)
        checkpoint.check_resumable(ck["config"], self.cfg, self.path)
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["opt"])
        torch.set_rng_state(ck["rng"])
        self.best = ck["best"]
        fit = dict(ck["fit"])
        if "best_val_mse" in fit:   # a state file of forecast.py's first format
            fit["best_val"], fit["bad_epochs"] = fit.pop("best_val_mse"), ck.get("bad", 0)
        result = FitResult(**fit)
        result.resumed_epochs = len(result.history)
        log.info("resumed from %s after epoch %d", self.path, len(result.history))
        return result

    def after_epoch(self, result: FitResult, improved: bool) -> None:
        if improved:
            self.best = copy.deepcopy(self.model.state_dict())
        self.save(result)

    def save(self, result: FitResult) -> None:
        """The whole training state to the state file (if any): at an epoch's end, or within one."""
        if self.path is not None:
            checkpoint.save_atomic({"config": self.cfg.to_dict(), "model": self.model.state_dict(),
                                    "opt": self.opt.state_dict(), "fit": dataclasses.asdict(result),
                                    "best": self.best, "rng": torch.get_rng_state()}, self.path)

    def run_epoch(self, result: FitResult, epoch: int, batches: Iterable, total: int,
                  step: Callable[[Any], float]) -> dict[str, Any]:
        """`step` (one optimiser step, returning its loss) on each of an epoch's `total` `batches`, in
        their seeded order. Those that an interrupted process ran (`result.partial`, from its state
        file) are skipped, their losses and seconds kept; every `--save_every_min` minutes the state
        is saved, so a stop loses at most that much. The batches' order must not depend on torch's
        random state (the state file restores it as it was after the last saved batch).
        Returns {"losses", "seconds": of every process, "before_resume" where the epoch was resumed
        within: what the processes before ran of it}."""
        before = result.partial if result.partial and result.partial["epoch"] == epoch else None
        so_far = before or {"losses": [], "seconds": 0.0, "peak_gb": 0.0, "git_commits": []}
        losses = list(so_far["losses"])
        if before:
            log.info("epoch %d: resumed after batch %d of %d", epoch, len(losses), total)
        every, t0 = self.cfg.save_every_min * 60, time.perf_counter()
        last = t0
        for batch in progress(itertools.islice(batches, len(losses), None), total - len(losses),
                              f"epoch {epoch}/{self.cfg.epochs}"):
            losses.append(step(batch))
            now = time.perf_counter()
            if every and now - last >= every and len(losses) < total:
                result.partial = {"epoch": epoch, "losses": list(losses), "seconds": so_far["seconds"] + now - t0,
                                  "peak_gb": max(so_far["peak_gb"], peak_memory_mb() / 1024),
                                  "git_commits": sorted({*so_far["git_commits"], checkpoint.git_commit()})}
                self.save(result)
                last = now
        result.partial = None
        row: dict[str, Any] = {"losses": losses, "seconds": so_far["seconds"] + time.perf_counter() - t0}
        if before:
            row["before_resume"] = {"batches": len(before["losses"]),
                                    **{k: before[k] for k in ("seconds", "peak_gb", "git_commits")}}
        return row

    def restore(self) -> nn.Module:
        self.model.load_state_dict(self.best)
        return self.model
