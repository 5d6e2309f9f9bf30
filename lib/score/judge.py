"""STAMP's `get_final_result`, composed from scoring, thresholds and metrics.

STAMP's protocol columns are computed as STAMP computes them, over window
scores and window labels (`--stamp_labels`). Every other view maps window
scores back to the steps of the original test series (undoing windowing and
down-sampling), so the scores, per-step labels and plots align with the
series the user gave.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lib.data.windows import upsample, window_labels, window_to_time
from lib.metrics import metrics as step_metrics
from lib.metrics.counts import segments
from lib.metrics.thresholds import best_f1_pa, f1_at, pot_threshold, quantile_threshold
from lib.score.scores import window_scores


def scores_to_time(scores: np.ndarray, cfg, n_down: int, n_orig: int) -> np.ndarray:
    """Window scores `[W, ...]` -> per-step scores of the original test series `[n_orig, ...]`."""
    return upsample(window_to_time(scores, cfg.window_size, n_down), cfg.down_len, n_orig)


@dataclass
class Labels:
    """The test labels at both resolutions: `orig` `[T]` of the series the user gave, `model`
    `[T']` after down-sampling (STAMP's window labels are built from these)."""
    orig: np.ndarray
    model: np.ndarray


def get_final_result(test_err: dict[str, np.ndarray], val_err: dict[str, np.ndarray], labels: Labels,
                     cfg, vus_window: int) -> dict:
    """Scores, the STAMP-protocol metrics (best-F1 with point adjustment) and the views beside them.

    Two scores come from the same errors. STAMP's (`--norm_source test`: normalised by the test
    errors' own statistics) gives the STAMP-protocol, no-PA, PA%K, affiliation, AUC and VUS
    columns. The label-free thresholds are fitted on validation scores and applied to a test
    score normalised by validation statistics, so no number called label-free uses the test
    series (with `--norm_source val` the two scores are one).

    Returns `{"score": [T], "window_score": [W], "free_score": [T], "feature_scores":
    {pred|recon|adv|combined: [T, N]}, "metrics": {...}, "by_score_agg": {max|sum|mean: metrics},
    "beyond_pa": {...}, "label_free": {...}}`.
    """
    ref = test_err if cfg.norm_source == "test" else val_err
    s, feats = window_scores(test_err, ref, cfg)
    free = s if cfg.norm_source == "val" else window_scores(test_err, val_err, cfg)[0]
    val_score, _ = window_scores(val_err, val_err, cfg)
    judged = judge(s, val_score, labels, cfg, vus_window, free)
    n_down = labels.model.shape[0]
    by_agg = {cfg.score_agg: judged["metrics"], **other_aggregations(test_err, ref, labels, cfg)}
    return {**judged, "by_score_agg": by_agg,
            "feature_scores": {k: scores_to_time(v, cfg, n_down, labels.orig.shape[0]) for k, v in feats.items()}}


def other_aggregations(test_err: dict[str, np.ndarray], ref_err: dict[str, np.ndarray], labels: Labels,
                       cfg) -> dict[str, dict]:
    """STAMP's protocol for the two `--score_agg` choices not taken, as STAMP's test.py prints
    all three."""
    return {agg: stamp_protocol(window_scores(test_err, ref_err, cfg, score_agg=agg)[0], labels, cfg)
            for agg in ("max", "sum", "mean") if agg != cfg.score_agg}


def stamp_protocol(window_score: np.ndarray, labels: Labels, cfg) -> dict:
    """STAMP's best-F1 with point adjustment on its threshold grid. `--stamp_labels window`
    (STAMP): over the window scores `[W]` against its window labels (a window is anomalous when
    any of its steps is, at model resolution); `step`: over the per-step score of the original
    series. The delay is in those units (windows or steps)."""
    if cfg.stamp_labels == "window":
        out = best_f1_pa(window_score, window_labels(labels.model, cfg.window_size), cfg.search_steps)
    else:
        score = scores_to_time(window_score, cfg, labels.model.shape[0], labels.orig.shape[0])
        out = best_f1_pa(score, labels.orig, cfg.search_steps)
    return {**out, "labels": cfg.stamp_labels}


def judge(window_score: np.ndarray, val_score: np.ndarray, labels: Labels, cfg, vus_window: int,
          free_window_score: np.ndarray | None = None) -> dict:
    """Every metric of one detector from its test window scores `[W]`: the STAMP protocol
    (`stamp_protocol`), the per-step views of the original series beside it, and the label-free
    thresholds fitted on the validation window scores `val_score` and applied to
    `free_window_score` (default: `window_score`). Returns `{"score": [T], "window_score": [W],
    "free_score": [T], "metrics": STAMP protocol, "beyond_pa": {...}, "label_free": {...}}`."""
    n_down, T = labels.model.shape[0], labels.orig.shape[0]
    score = scores_to_time(window_score, cfg, n_down, T)
    free = score if free_window_score is None else scores_to_time(free_window_score, cfg, n_down, T)
    metrics = stamp_protocol(window_score, labels, cfg)
    return {"score": score, "window_score": window_score, "free_score": free, "metrics": metrics,
            "beyond_pa": step_metrics(score, labels.orig, vus_window, cfg.search_steps, metrics["threshold"]),
            "label_free": label_free(free, labels.orig, val_score, cfg)}


def label_free(score: np.ndarray, labels: np.ndarray, val_score: np.ndarray, cfg) -> dict:
    """Thresholds fitted on validation scores alone (no test labels, no test statistics), and
    their F1 on the test score `[T]`, with and without point adjustment. `pot.method` says
    whether POT fitted a tail or fell back to its `--pot_level` quantile."""
    pot = pot_threshold(val_score, cfg.pot_q, cfg.pot_level)
    thresholds = {"pot": (pot["threshold"], {k: v for k, v in pot.items() if k != "threshold"}),
                  "val_quantile": (quantile_threshold(val_score, cfg.val_quantile), {"method": "quantile"})}
    return {name: {"threshold": t, **info, "pa": f1_at(score, labels, t, k=0.0), "no_pa": f1_at(score, labels, t, k=1.0)}
            for name, (t, info) in thresholds.items()}


def explain(score: np.ndarray, feature_scores: dict[str, np.ndarray], threshold: float, cfg, names: list[str],
            k: int = 3) -> list[dict]:
    """For each alarm (a run of steps with score > threshold): its top-k features by combined
    score summed over the run, and each branch's weighted share of those features' scores.

    score `[T]`; feature_scores: `{pred|recon|adv|combined: [T, N]}` as `get_final_result` gives.
    """
    weights = {"pred": cfg.test_alpha, "recon": cfg.test_beta, "adv": cfg.test_gamma}
    out = []
    for s, e in segments(score > threshold):
        top = np.argsort(-feature_scores["combined"][s:e].sum(axis=0), kind="stable")[:k]
        parts = {b: weights[b] * float(feature_scores[b][s:e, top].sum()) for b in weights if weights[b] != 0}
        out.append({"start": s, "end": e - 1, "top_features": [names[i] for i in top],
                    "branch": max(parts, key=parts.get), "branch_scores": parts})
    return out
