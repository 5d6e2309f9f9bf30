"""Reasoning over series: tasks about injected anomalies, and the models that answer them.

    python reason.py make-data --rs_data expe/reasoning_data --seed 1 --data_root ../shared/datasets
    python reason.py train --rs_data expe/reasoning_data --rs_model tslm --seed 1
    python reason.py eval --checkpoint expe/pth/reason_tslm_L30_seed1.pth
    python reason.py ask --checkpoint expe/pth/reason_tslm_L30_seed1.pth --series my.csv --question "What happened?"

`make-data` writes train.jsonl, test.jsonl and heldout.jsonl under --rs_data: one series
with at most one injected anomaly per line, its record (kind, channel, onset, end,
direction, magnitude, background) and four questions with templated answers
(lib/data/reasoning.py). Same seed, same files.

`train` fits `--rs_model` (tslm: the series encoder, projector and frozen LLM after
OpenTSLM's SoftPrompt model, or with `--rs_series_as_text True` the LLM reading the numbers;
encoder_head: the same encoder with a linear head per question type, no LLM;
stats_forest: random forests on window statistics; majority) on train.jsonl for --epochs
(here 2 unless given; the TSLM runs all 30 layers of the LLM, in bfloat16 where the machine
computes it natively, unless --llm_layers and --llm_dtype say otherwise), keeps the best
validation epoch, saves the trainable weights with the config, and scores the test and
held-out splits, plus the grounding checks on the test split (series shuffled across
questions; anomalies removed), into expe/results/reasoning/<run>.json. `eval` rescores a
checkpoint; `ask` answers one question about the series in a CSV file (one column per
channel, numbers only or with a header).
"""
from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lib.config import Config, add_config_flags, overrides_from_args, scope_of
from lib.data.reasoning import REGIONS, kinds_drawn, make_examples, read_examples, samples_of, write_examples
from lib.errors import UserError, cli_main
from lib.hardware import peak_memory_mb
from lib.outputs.report import write_json
from lib.runfiles import check_writable, run_lock
from lib.metrics.reasoning import parse_label
from lib.score.reasoning import answer, grounding_checks, scores
from lib.train import checkpoint
from lib.train.reasoning import TASK_DEFAULTS, fit, start_encoder_from
from lib.utils import pick_device, seed_everything, set_threads_and_quiet, setup_logging
from model.registry import build_reasoner, check_reasoner

COMMANDS = ("make-data", "train", "eval", "ask")


def make_data(cfg: Config) -> None:
    out = Path(cfg.rs_data)
    check_writable((out,))
    root = cfg.resolved_data_root() if cfg.data_root else ""
    for split in REGIONS:
        n = cfg.rs_n_train if split == "train" else cfg.rs_n_eval
        examples = make_examples(n, split, cfg.seed, cfg.rs_length, cfg.rs_channels, root, cfg.rs_real_share,
                                 cfg.rs_kinds, cfg.rs_rationale)
        write_examples(examples, out / f"{split}.jsonl")
        backgrounds = collections.Counter(e.background for e in examples)
        print(f"{split:8s}: {n} series of {cfg.rs_length} x {cfg.rs_channels}, kinds "
              f"{', '.join(kinds_drawn(cfg.rs_channels, cfg.rs_kinds))}; answers "
              f"{'with a rationale' if cfg.rs_rationale else 'the label alone'}; backgrounds "
              + ", ".join(f"{k} {v}" for k, v in sorted(backgrounds.items())) + f" -> {out / (split + '.jsonl')}")


def run_name(cfg: Config) -> str:
    if cfg.rs_model != "tslm":
        return f"{cfg.rs_model}_seed{cfg.seed}"
    llm = f"L{cfg.llm_layers}" + ("" if cfg.llm_pretrained else "_random") + ("_text" if cfg.rs_series_as_text else "") + \
        (f"_lora{cfg.llm_lora_r}" if cfg.llm_lora_r else "") + ("" if cfg.llm_model in ("", "smollm2") else
                                                                  "_" + Path(cfg.llm_model).name)
    return f"tslm_{llm}_seed{cfg.seed}"


def read_split(cfg: Config, split: str):
    path = Path(cfg.rs_data) / f"{split}.jsonl"
    if not path.is_file():
        raise UserError(f"no {path}: write the tasks first with python reason.py make-data --rs_data {cfg.rs_data}")
    return read_examples(path)


def score_splits(model, cfg: Config) -> dict:
    out = {}
    for split in ("test", "heldout"):
        examples = read_split(cfg, split)[: cfg.rs_eval_series or None]
        t0 = time.perf_counter()
        answers = answer(model, samples_of(examples), cfg)
        out[split] = {**scores(examples, answers), "seconds": time.perf_counter() - t0,
                      "examples": [{"kind": e.kind, "answers": answers[i * 4:(i + 1) * 4]}
                                   for i, e in enumerate(examples[:5])]}
        if split == "test":
            t0 = time.perf_counter()
            out[split]["grounding"] = grounding_checks(model, examples, cfg)
            out[split]["grounding_seconds"] = time.perf_counter() - t0
        print(f"{split:8s}: kind accuracy {out[split]['kind_choice']['accuracy']:.3f} (choice) "
              f"{out[split]['kind_free']['accuracy']:.3f} (free), channel {out[split]['channel']['accuracy']:.3f}, "
              f"onset {out[split]['onset']['accuracy']:.3f}, parse failures "
              f"{out[split]['kind_free']['parse_failure']:.3f}")
    return out


CURVE_SERIES = 28   # validation series whose kind question is answered after every epoch: the learning curve


def curve_point(model, val_examples, cfg: Config) -> dict[str, float]:
    """Kind accuracy (multiple choice) and parse failures on the first CURVE_SERIES validation
    series, answered as in evaluation: the history's learning curve."""
    samples = [s for s in samples_of(val_examples[:CURVE_SERIES]) if s.qtype == "kind_choice"]
    said = [parse_label(a) for a in answer(model, samples, cfg)]
    return {"val_kind_accuracy": float(np.mean([p == s.label for p, s in zip(said, samples)])),
            "val_parse_failure": float(np.mean([p is None for p in said]))}


def train(cfg: Config) -> None:
    root, name = Path(cfg.expe_dir), run_name(cfg)
    check_writable((root / "pth", root / "results" / "reasoning", root / "log" / "reasoning"))
    with run_lock(root / "results" / "reasoning" / f"{name}.lock"):
        log = setup_logging(root / "log" / "reasoning" / f"{name}.log")
        seed_everything(cfg.seed)
        examples = read_split(cfg, "train")
        model = on_device(build_reasoner(cfg, examples[0].series.shape[1]), cfg)
        if cfg.rs_encoder_from:
            start_encoder_from(model, cfg)
        t0 = time.perf_counter()
        if hasattr(model, "predict_labels"):   # the classical controls: fitted at once, nothing to save
            model.fit(samples_of(examples))
            counts, fitted, path = {"trainable": 0, "total": 0}, None, None
        else:
            counts = {"trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
                      "total": sum(p.numel() for p in model.parameters())}
            log.info("%s: %d training series; %d of %d parameters trainable; on %s", name, len(examples),
                     counts["trainable"], counts["total"], model_device(model))
            model, fitted = fit(model, examples, cfg, root / "pth" / f"reason_{name}_last.pth",
                                on_epoch=lambda m, val: curve_point(m, val, cfg))
            path = root / "pth" / f"reason_{name}.pth"
            checkpoint.save_atomic({"config": cfg.to_dict(), "model": model.state_dict(),
                                    "n_channels": examples[0].series.shape[1], "epoch": fitted.best_epoch,
                                    "git_commit": checkpoint.git_commit()}, path)
            log.info("checkpoint: %s", path)
        fit_s = time.perf_counter() - t0
        result = {"config": cfg.to_dict(), "git_commit": checkpoint.git_commit(),
                  "checkpoint": str(path) if path else None,
                  "training": {"best_epoch": fitted.best_epoch if fitted else 0,
                               "history": fitted.history if fitted else [],
                               "fit_seconds": fit_s + (fitted.earlier_seconds() if fitted else 0.0),
                               "resumed_after_epoch": fitted.resumed_epochs if fitted else 0,
                               "parameters": counts},
                  "scores": score_splits(model, cfg),
                  "device": str(model_device(model)), "peak_memory_mb": peak_memory_mb(), **gpu_peak(model)}
        write_json(result, root / "results" / "reasoning" / f"{name}.json")
        log.info("results: %s", root / "results" / "reasoning" / f"{name}.json")


def load_reasoner(path: str, overrides: dict) -> tuple[torch.nn.Module, Config]:
    ck = checkpoint.load(Path(path), "reasoner checkpoint")
    if "n_channels" not in ck:   # e.g. the per-epoch training state for --resume (reason_<run>_last.pth)
        raise UserError(f"{path}: not a trained reasoner: give the pth/reason_<run>.pth that reason.py train "
                        "writes at its end (its result JSON names it)")
    # the channels it was trained on, whatever --rs_channels said then
    cfg = Config(**{**ck["config"], **overrides, "rs_channels": ck["n_channels"]})
    model = build_reasoner(cfg, ck["n_channels"])
    model.load_state_dict(ck["model"])
    return on_device(model, cfg).eval(), cfg


def on_device(model, cfg: Config):
    """The neural reasoners moved to `--device` (auto: CUDA where torch sees it); the classical
    controls stay as they are."""
    return model.to(pick_device(cfg.device)) if isinstance(model, torch.nn.Module) else model


def gpu_peak(model) -> dict[str, float]:
    """The peak of the GPU memory that torch allocated, where `model` ran on one."""
    device = model_device(model)
    return {"peak_gpu_mb": torch.cuda.max_memory_allocated(device) / 2**20} if device.type == "cuda" else {}


def model_device(model) -> torch.device:
    """Where `model` computes: its parameters' device, the CPU for the classical controls."""
    params = model.parameters() if isinstance(model, torch.nn.Module) else iter(())
    return next(params, torch.empty(0)).device


def read_series(path: str) -> np.ndarray:
    """A CSV of one column per channel (a header row is skipped) -> `[T, N]`."""
    from lib.data.files import read_text
    rows = [r for r in read_text(Path(path)).splitlines() if r.strip()]
    try:
        float(rows[0].split(",")[0])
    except (ValueError, IndexError):
        rows = rows[1:]
    try:
        values = np.array([[float(v) for v in r.split(",")] for r in rows], dtype=np.float32)
    except ValueError as exc:
        raise UserError(f"{path}: expected numbers only, one column per channel ({exc})") from None
    if values.ndim != 2 or values.shape[0] < 8 or not np.isfinite(values).all():
        raise UserError(f"{path}: need at least 8 rows of finite numbers, got shape {values.shape}")
    return values


def rescoring_overrides(overrides: dict, also: tuple[str, ...] = ()) -> dict:
    """The flags of `eval` and `ask` that apply over the checkpoint's config: where and how to run
    (the fields of scope "run": `--device`, `--threads`, `--expe_dir`, ...) and `also`."""
    return {k: v for k, v in overrides.items() if scope_of(k) == "run" or k in also}


def parse(argv: list[str]) -> tuple[str, Config, argparse.Namespace]:
    if not argv or argv[0] not in COMMANDS:
        raise UserError(f"usage: python reason.py {{{'|'.join(COMMANDS)}}} [flags]; see --help after a command")
    parser = argparse.ArgumentParser(prog=f"reason.py {argv[0]}", description=__doc__.splitlines()[0])
    add_config_flags(parser, task_defaults=TASK_DEFAULTS)
    parser.add_argument("--checkpoint", default="", help="eval, ask: a checkpoint of reason.py train")
    parser.add_argument("--series", default="", help="ask: a CSV file, one column per channel")
    parser.add_argument("--question", default="What, if anything, is unusual in this series?", help="ask")
    args = parser.parse_args(argv[1:])
    overrides = overrides_from_args(args)
    cfg = Config(**{**TASK_DEFAULTS, **overrides})   # reason.py's defaults under the typed flags
    cfg.validate()
    if cfg.rs_length < 48 or cfg.rs_channels < 1 or min(cfg.rs_n_train, cfg.rs_n_eval) < 1 or cfg.rs_eval_series < 0:
        raise UserError("--rs_length must be >= 48, --rs_channels, --rs_n_train and --rs_n_eval >= 1, "
                        "--rs_eval_series >= 0")
    if argv[0] == "make-data":
        kinds_drawn(cfg.rs_channels, cfg.rs_kinds)
    if argv[0] == "train":
        check_reasoner(cfg.rs_model)
    if argv[0] in ("eval", "ask") and not args.checkpoint:
        raise UserError(f"reason.py {argv[0]} needs --checkpoint")
    if argv[0] == "ask" and not args.series:
        raise UserError("reason.py ask needs --series FILE.csv")
    args.overrides = overrides
    return argv[0], cfg, args


@cli_main
def main() -> None:
    command, cfg, args = parse(sys.argv[1:])
    set_threads_and_quiet(cfg)
    if command == "make-data":
        make_data(cfg)
    elif command == "train":
        train(cfg)
    elif command == "eval":
        model, cfg = load_reasoner(args.checkpoint, rescoring_overrides(args.overrides, ("rs_data", "rs_eval_series")))
        write_json({"checkpoint": args.checkpoint, "scores": score_splits(model, cfg)},
                   Path(cfg.expe_dir) / "results" / "reasoning" / f"eval_{Path(args.checkpoint).stem}.json")
    else:
        model, cfg = load_reasoner(args.checkpoint, rescoring_overrides(args.overrides))
        t0 = time.perf_counter()
        series = read_series(args.series)
        if cfg.rs_model == "encoder_head" and series.shape[1] != model.heads["channel"].in_features // cfg.rs_enc_dim:
            raise UserError(f"{args.series}: {series.shape[1]} channels; this encoder_head was trained on "
                            f"{model.heads['channel'].in_features // cfg.rs_enc_dim}")
        from lib.data.reasoning import Sample
        (reply,) = answer(model, [Sample(series, "kind_free", args.question, "", "")], cfg)
        print(reply)
        print(f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
