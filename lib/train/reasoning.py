"""Training and evaluating a reasoner on generated tasks (`lib/data/reasoning.py`).

Every (series, question) pair is one sample; a batch holds whole examples (all four questions of
each of its series), which share one pass over the series. `tslm` learns the answer's tokens (rationale and
label); `encoder_head` learns the label alone, one linear head per question type. The last
10 % of the training series are held back for validation; the epoch with the lowest
validation loss is kept."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from lib.data.reasoning import QUESTION_TYPES, Example, Sample, batches, samples_of, series_order
from lib.train.epochs import BestWeights, FitResult

log = logging.getLogger("llm_tsad")
VAL_SHARE = 0.1
# reason.py's own default for --epochs (the shared field's default, 10, is the detectors'): two
# passes over the default 1,890 training series keep the default TSLM within about an hour of
# training on 2 CPU cores (docs/REASONING.md measures it)
DEFAULT_EPOCHS = 2


def batch_loss(model: nn.Module, batch: list[Sample]) -> torch.Tensor:
    if hasattr(model, "heads"):   # encoder_head: cross-entropy per question type
        losses = []
        for q in QUESTION_TYPES:
            part = [s for s in batch if s.qtype == q]
            if part:
                target = torch.tensor([model.label_sets[q].index(s.label) for s in part])
                losses.append(F.cross_entropy(model([s.series for s in part], q), target, reduction="sum"))
        return sum(losses) / len(batch)
    return model.loss([s.series for s in batch], [s.question for s in batch], [s.answer for s in batch])


@torch.no_grad()
def mean_loss(model: nn.Module, samples: list[Sample], size: int) -> float:
    model.eval()
    total = sum(batch_loss(model, b).item() * len(b) for b in batches(samples, size))
    return total / max(len(samples), 1)


def fit(model: nn.Module, examples: list[Example], cfg, state_path: Path | None = None) -> tuple[nn.Module, FitResult]:
    """Train on all but the last VAL_SHARE of `examples`; keep the best validation epoch. With
    `state_path`, the training state is saved there after every epoch, and resumed from it
    under `--resume True`."""
    n_val = max(1, int(len(examples) * VAL_SHARE))
    train, val = samples_of(examples[:-n_val]), samples_of(examples[-n_val:])
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:   # e.g. the LLM reading numbers as text, frozen: zero-shot
        log.info("nothing to train: zero-shot")
        return model, FitResult()
    opt = torch.optim.AdamW(params, lr=cfg.rs_lr)
    keeper = BestWeights(model, opt, cfg, state_path)
    result = keeper.resume("resumable reasoning run")
    for epoch in result.epochs_to_run(cfg):
        model.train()
        order = series_order(train, cfg.seed * 7919 + epoch)
        t0, losses = time.perf_counter(), []
        bar = tqdm(batches(train, cfg.rs_batch_size, order), total=-(-len(train) // cfg.rs_batch_size),
                   desc=f"epoch {epoch}/{cfg.epochs}", leave=False, disable=None, mininterval=1.0)
        for batch in bar:
            loss = batch_loss(model, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        seconds, t0 = time.perf_counter() - t0, time.perf_counter()
        val_loss = mean_loss(model, val, cfg.rs_batch_size)
        improved = result.record({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_loss": val_loss,
                                  "seconds": seconds, "val_seconds": time.perf_counter() - t0}, val_loss)
        log.info("epoch %d: train loss %.4f | val loss %.4f | %.1fs%s", epoch, result.history[-1]["train_loss"],
                 val_loss, seconds, "  * best" if improved else "")
        keeper.after_epoch(result, improved)
    return keeper.restore(), result
