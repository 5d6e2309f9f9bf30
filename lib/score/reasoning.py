"""Answering generated questions and scoring the answers: labels, the stated onset, and the
rationale rubric (lib/metrics/reasoning.py)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from lib.data.reasoning import FREE_QUESTION, QUESTION_TYPES, Example, Sample, batches, samples_of
from lib.metrics.reasoning import (label_scores, parse_label, rationale_of, rubric, rubric_scores, stated_channel,
                                   stated_onset)
from lib.utils import progress


@torch.no_grad()
def answer(model: nn.Module, samples: list[Sample], cfg) -> list[str]:
    """The model's answer to every sample (encoder_head: 'Answer: <label>')."""
    if hasattr(model, "predict_labels"):   # the classical controls: labels without words
        return [f"Answer: {label}" for label in model.predict_labels(samples)]
    model.eval()
    out: list[str] = []
    todo = list(batches(samples, cfg.rs_batch_size))
    for batch in progress(todo, len(todo), "answering"):
        if hasattr(model, "heads"):
            logits = model.label_logits([s.series for s in batch], [s.qtype for s in batch])
            out += [f"Answer: {model.label_sets[s.qtype][int(z.argmax())]}" for z, s in zip(logits, batch)]
        else:
            out += model.generate([s.series for s in batch], [s.question for s in batch], cfg.rs_max_new_tokens)
    return out


def scores(examples: list[Example], answers: list[str]) -> dict:
    """Per question type: accuracy, macro-F1, parse failures; channel accuracy; onset error of
    the stated step; the rationale rubric (where the answer has a rationale)."""
    samples = samples_of(examples)
    owners = [e for e in examples for _ in e.questions]
    out: dict = {}
    for q in QUESTION_TYPES:
        idx = [i for i, s in enumerate(samples) if s.qtype == q]
        out[q] = label_scores([parse_label(answers[i]) for i in idx], [samples[i].label for i in idx])
    kind_idx = [i for i, s in enumerate(samples) if s.qtype == "kind_free"]
    errors = [abs(stated_onset(answers[i]) - owners[i].onset) for i in kind_idx
              if owners[i].onset >= 0 and stated_onset(answers[i]) is not None]
    out["onset_error_steps"] = float(np.median(errors)) if errors else float("nan")
    out["onset_stated"] = float(len(errors) / max(sum(owners[i].onset >= 0 for i in kind_idx), 1))
    with_rationale = [i for i in kind_idx if parse_label(answers[i]) is not None and rationale_of(answers[i]).strip()]
    if with_rationale:
        out["rubric"] = rubric_scores([rubric(answers[i], owners[i].kind, owners[i].channel, owners[i].direction,
                                              owners[i].onset) for i in with_rationale])
    return out


def grounding_checks(model, examples: list[Example], cfg, seed: int = 0) -> dict[str, float]:
    """Does the answer depend on the series? `shuffled`: kind accuracy (multiple choice) with
    every series swapped for another example's (chance is about 1/7); `removed`: the share of
    anomalous examples answered 'none' once their anomaly is taken out (1.0 is grounded)."""
    samples = [s for s in samples_of(examples) if s.qtype == "kind_choice"]
    perm = np.random.default_rng(seed).permutation(len(samples))
    swapped = [Sample(samples[j].series, s.qtype, s.question, s.answer, s.label) for s, j in zip(samples, perm)]
    shuffled = label_scores([parse_label(a) for a in answer(model, swapped, cfg)], [s.label for s in swapped])
    cleaned = [e.without_anomaly() for e in examples if e.kind != "none" and e.clean is not None]
    removed = [s for s in samples_of(cleaned) if s.qtype == "kind_choice"]
    said = [parse_label(a) for a in answer(model, removed, cfg)] if removed else []
    return {"shuffled_accuracy": shuffled["accuracy"],
            "removed_answered_none": float(np.mean([p == "none" for p in said])) if said else float("nan")}


def explain_in_words(model, series: np.ndarray, alarms: list[dict], names: list[str], cfg) -> None:
    """Add to every alarm (`judge.explain`'s: start, end, top_features) the reasoner's words
    about a `cfg.rs_length`-step window of `series` `[T, N]` (the raw test series) over its top
    features, the alarm's start a third of the way in: the reply, and the kind, feature and
    step it names."""
    T = series.shape[0]
    L = min(cfg.rs_length, T)
    for alarm in alarms:
        cols = [names.index(f) for f in alarm["top_features"]]
        start = int(np.clip(alarm["start"] - L // 3, 0, T - L))
        (reply,) = answer(model, [Sample(series[start:start + L, cols], "kind_free", FREE_QUESTION, "", "")], cfg)
        channel, onset = stated_channel(reply), stated_onset(reply)
        alarm["words"] = {"reply": reply, "kind": parse_label(reply),
                          "feature": alarm["top_features"][channel] if channel is not None and
                          channel < len(cols) else None,
                          "onset_step": start + onset if onset is not None else None, "window": [start, start + L - 1]}
