"""Training and evaluating a reasoner on generated tasks (`lib/data/reasoning.py`).

Every (series, question) pair is one sample; a batch holds whole examples (all four questions of
each of its series), which share one pass over the series. `tslm` learns the answer's tokens (rationale and
label); `encoder_head` learns the label alone, one linear head per question type. The last
10 % of the training series are held back for validation; the epoch with the lowest
validation loss is kept. The optimiser is OpenTSLM's: AdamW with weight decay 0.01, the
projector at half the encoder's rate, a linear warm-up over the first 3 % of the steps and a
linear decay to 0 at the last, gradients clipped to norm 1."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import get_linear_schedule_with_warmup

from lib.data.reasoning import Example, Sample, batches, samples_of, series_order
from lib.train.epochs import BestWeights, FitResult

log = logging.getLogger("llm_tsad")
VAL_SHARE = 0.1
WEIGHT_DECAY = 1e-2   # AdamW's, as OpenTSLM's
# reason.py's own defaults where the shared fields' are the detectors' (10 epochs, the first 6
# layers in float32). The TSLM runs the whole LLM, as OpenTSLM does: frozen, its first 6 layers
# do not learn to write an answer. `auto` runs it in bfloat16 where the machine computes that
# natively (twice as fast as float32 there), else in float32, and the log says which. Two passes
# over the default 1,890 training series keep the training within about an hour on 2 CPU cores
# with native bfloat16 (scripts/bench_reasoning.py's rows measure all three)
DEFAULT_EPOCHS = 2
TASK_DEFAULTS = {"epochs": DEFAULT_EPOCHS, "llm_layers": 30, "llm_dtype": "auto"}


def encoder_fields() -> list[str]:
    """The config fields that define the series encoder."""
    from lib.config import Config
    return [f for f in Config().to_dict() if f.startswith("rs_enc_") or f == "rs_patch"]


def start_encoder_from(model: nn.Module, cfg) -> None:
    """`model`'s encoder takes the weights of the encoder_head checkpoint `cfg.rs_encoder_from`
    (one line where it is missing, of another model, or of another encoder)."""
    from lib.errors import UserError
    from lib.train import checkpoint
    path = Path(cfg.rs_encoder_from)
    where = f"--rs_encoder_from {path}"
    if not path.is_file():
        raise UserError(f"{where}: no such file; reason.py train --rs_model encoder_head writes "
                        "pth/reason_encoder_head_seed<N>.pth")
    if cfg.rs_series_as_text or not hasattr(model, "encoder"):
        raise UserError(f"{where}: --rs_model {cfg.rs_model} reads no series encoder")
    ck = checkpoint.load(path, "encoder_head checkpoint")
    if ck["config"].get("rs_model") != "encoder_head" or "model" not in ck:
        raise UserError(f"{where}: not a trained encoder_head (its --rs_model: {ck['config'].get('rs_model')})")
    differ = [f"--{f} {ck['config'].get(f)} there, {getattr(cfg, f)} here" for f in encoder_fields()
              if ck["config"].get(f) != getattr(cfg, f)]
    if differ:
        raise UserError(f"{where}: another encoder: {'; '.join(differ)}")
    model.encoder.load_state_dict({k.removeprefix("encoder."): v for k, v in ck["model"].items()
                                   if k.startswith("encoder.")})
    log.info("encoder: from %s (epoch %s)", path, ck.get("epoch"))


def batch_loss(model: nn.Module, batch: list[Sample]) -> torch.Tensor:
    if hasattr(model, "heads"):   # encoder_head: cross-entropy of each question over its type's labels
        logits = model.label_logits([s.series for s in batch], [s.qtype for s in batch])
        return sum(F.cross_entropy(z, torch.tensor(model.label_sets[s.qtype].index(s.label), device=z.device))
                   for z, s in zip(logits, batch)) / len(batch)
    return model.loss([s.series for s in batch], [s.question for s in batch], [s.answer for s in batch])


@torch.no_grad()
def mean_loss(model: nn.Module, samples: list[Sample], size: int) -> float:
    model.eval()
    total = sum(batch_loss(model, b).item() * len(b) for b in batches(samples, size))
    return total / max(len(samples), 1)


def param_groups(model: nn.Module, cfg) -> list[dict]:
    """OpenTSLM's optimiser groups: the projector at `--rs_lr_projector`, every other trainable
    weight (encoder, heads, LoRA) at `--rs_lr`."""
    projector, rest = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (projector if name.startswith("projector.") else rest).append(p)
    return [{"params": ps, "lr": lr} for ps, lr in ((rest, cfg.rs_lr), (projector, cfg.rs_lr_projector)) if ps]


def fit(model: nn.Module, examples: list[Example], cfg, state_path: Path | None = None,
        on_epoch: Callable[[nn.Module, list[Example]], dict[str, float]] | None = None) -> tuple[nn.Module, FitResult]:
    """Train on all but the last VAL_SHARE of `examples`; keep the best validation epoch. With
    `state_path`, the training state is saved there after every epoch, and resumed from it
    under `--resume True`. `on_epoch(model, validation examples)` adds its figures to each
    epoch's row of the history."""
    n_val = max(1, int(len(examples) * VAL_SHARE))
    val_examples = examples[-n_val:]
    train, val = samples_of(examples[:-n_val]), samples_of(val_examples)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:   # e.g. the LLM reading numbers as text, frozen: zero-shot
        log.info("nothing to train: zero-shot")
        return model, FitResult()
    opt = torch.optim.AdamW(param_groups(model, cfg), weight_decay=WEIGHT_DECAY)
    keeper = BestWeights(model, opt, cfg, state_path)
    result = keeper.resume("resumable reasoning run")
    per_epoch = -(-len(train) // cfg.rs_batch_size)
    total = cfg.epochs * per_epoch
    # the schedule is a function of the step: a resumed run picks it up where its last save left it
    steps_done = len(result.history) * per_epoch + len(result.partial["losses"] if result.partial else ())
    sched = get_linear_schedule_with_warmup(opt, int(cfg.rs_warmup * total), total, last_epoch=steps_done - 1)

    def step(batch: list[Sample]) -> float:
        loss = batch_loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.rs_grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.rs_grad_clip)
        opt.step()
        sched.step()
        return loss.item()

    for epoch in result.epochs_to_run(cfg):
        model.train()
        order = series_order(train, cfg.seed * 7919 + epoch)
        ran = keeper.run_epoch(result, epoch, batches(train, cfg.rs_batch_size, order), per_epoch, step)
        t0 = time.perf_counter()
        val_loss = mean_loss(model, val, cfg.rs_batch_size)
        extra = on_epoch(model, val_examples) if on_epoch else {}
        improved = result.record({"epoch": epoch, "train_loss": float(np.mean(ran.pop("losses"))), "val_loss": val_loss,
                                  **ran, "val_seconds": time.perf_counter() - t0, **extra}, val_loss)
        log.info("epoch %d: train loss %.4f | val loss %.4f | %.1fs%s", epoch, result.history[-1]["train_loss"],
                 val_loss, ran["seconds"], "  * best" if improved else "")
        keeper.after_epoch(result, improved)
    return keeper.restore(), result
