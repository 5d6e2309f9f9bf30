"""STAMP's `get_final_result`, composed from scoring, thresholds and metrics.

Window scores are mapped back to the steps of the original test series
(undoing windowing and down-sampling), so the scores, labels and plots all
align with the series the user gave.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from lib.affiliation import best_affiliation
from lib.data.windows import upsample, window_to_time
from lib.metrics import segments
from lib.scoring import window_scores
from lib.thresholds import best_f1, best_f1_pa, f1_at, pa_k_curve, pot_threshold, quantile_threshold
from lib.vus import vus


def scores_to_time(scores: np.ndarray, cfg, n_down: int, n_orig: int) -> np.ndarray:
    """Window scores `[W, ...]` -> per-step scores of the original test series `[n_orig, ...]`."""
    return upsample(window_to_time(scores, cfg.window_size, n_down), cfg.down_len, n_orig)


def get_final_result(test_err: dict[str, np.ndarray], val_err: dict[str, np.ndarray], labels: np.ndarray,
                     cfg, n_down: int, vus_window: int) -> dict:
    """Scores, the STAMP-protocol metrics (best-F1 with point adjustment) and the views beside them.

    labels: `[T]` of the original test series; n_down: test length at model
    resolution; vus_window: VUS's buffer length. Returns `{"score": [T],
    "feature_scores": {pred|recon|adv|combined: [T, N]}, "metrics": {...}, "by_score_agg": {max|sum|mean:
    metrics}, "beyond_pa": {...}, "label_free": {...}}`.
    """
    ref = test_err if cfg.norm_source == "test" else val_err
    T = labels.shape[0]
    s, feats = window_scores(test_err, ref, cfg)
    val_score, _ = window_scores(val_err, ref, cfg)
    judged = judge(s, val_score, labels, cfg, n_down, vus_window)
    by_agg = {cfg.score_agg: judged["metrics"]}
    for agg in {"max", "sum", "mean"} - {cfg.score_agg}:
        s_agg, _ = window_scores(test_err, ref, cfg, score_agg=agg)
        by_agg[agg] = best_f1_pa(scores_to_time(s_agg, cfg, n_down, T), labels, cfg.search_steps)
    return {**judged, "by_score_agg": by_agg,
            "feature_scores": {k: scores_to_time(v, cfg, n_down, T) for k, v in feats.items()}}


def judge(window_score: np.ndarray, val_score: np.ndarray, labels: np.ndarray, cfg, n_down: int,
          vus_window: int) -> dict:
    """Every metric of one detector: test window scores `[W]` are mapped to the steps of the
    original series `[T]` (labels); validation window scores set the label-free thresholds.
    Returns `{"score": [T], "metrics": STAMP protocol, "beyond_pa": {...}, "label_free": {...}}`."""
    score = scores_to_time(window_score, cfg, n_down, labels.shape[0])
    metrics = best_f1_pa(score, labels, cfg.search_steps)
    return {"score": score, "metrics": metrics,
            "beyond_pa": beyond_point_adjustment(score, labels, metrics["threshold"], cfg.search_steps, vus_window),
            "label_free": label_free(score, labels, val_score, cfg)}


def label_free(score: np.ndarray, labels: np.ndarray, val_score: np.ndarray, cfg) -> dict:
    """Thresholds fitted on validation scores alone (no test labels), and their F1 on the
    test score `[T]`, with and without point adjustment."""
    thresholds = {"pot": pot_threshold(val_score, cfg.pot_q, cfg.pot_level),
                  "val_quantile": quantile_threshold(val_score, cfg.val_quantile)}
    return {name: {"threshold": t, "pa": f1_at(score, labels, t, k=0.0), "no_pa": f1_at(score, labels, t, k=1.0)}
            for name, t in thresholds.items()}


def beyond_point_adjustment(score: np.ndarray, labels: np.ndarray, pa_threshold: float, steps: int,
                            vus_window: int) -> dict:
    """The views that point adjustment hides, on the same per-step score `[T]`:
    F1 without PA (at its own best threshold and at the PA one), the PA%K
    curve with its area, the best affiliation precision/recall/F (over 100
    thresholds, as TSB-AD), the threshold-free AUC-ROC and AUC-PR (scikit-learn's
    `roc_auc_score` and `average_precision_score`, as TSB-AD), and VUS-ROC,
    VUS-PR with buffers up to `vus_window` steps."""
    out = {"no_pa": best_f1(score, labels, steps, k=1.0), "no_pa_at_pa_threshold": f1_at(score, labels, pa_threshold),
           "pa_k": pa_k_curve(score, labels, steps)}
    one_class = labels.min() == labels.max()  # AUCs are undefined without both classes
    out["auc_roc"] = float("nan") if one_class else float(roc_auc_score(labels, score))
    out["auc_pr"] = float("nan") if one_class else float(average_precision_score(labels, score))
    out["affiliation"] = best_affiliation(score, labels)
    return {**out, **vus(score, labels, vus_window), "vus_window": int(vus_window)}


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
