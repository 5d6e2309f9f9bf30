"""Pure metrics: a per-step score and 0/1 labels in, numbers out; nothing here knows about
models, windows or configs.

`metrics(score, labels, window)` is the one entry for every per-step metric, as TSB-AD's
`get_metrics`; the modules below it hold the pieces (counts, thresholds, VUS, affiliation).
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from lib.metrics.affiliation import best_affiliation
from lib.metrics.thresholds import best_f1_exact, f1_at, pa_k_curve
from lib.metrics.vus import vus


def metrics(score: np.ndarray, labels: np.ndarray, window: int, steps: int = 500,
            pa_threshold: float | None = None) -> dict:
    """Every per-step view of a score `[T]` against labels `[T]`: F1 without point adjustment
    (exact, at its best over every distinct score, as TSB-AD; and at `pa_threshold` when given),
    the PA%K curve over `steps` thresholds with its area, the best affiliation precision/recall/F
    (over 100 thresholds, as TSB-AD), the threshold-free AUC-ROC and AUC-PR (scikit-learn's, as
    TSB-AD), and VUS-ROC and VUS-PR with buffers up to `window` steps."""
    out = {"no_pa": best_f1_exact(score, labels), "pa_k": pa_k_curve(score, labels, steps)}
    if pa_threshold is not None:
        out["no_pa_at_pa_threshold"] = f1_at(score, labels, pa_threshold)
    one_class = labels.min() == labels.max()  # AUCs are undefined without both classes
    out["auc_roc"] = float("nan") if one_class else float(roc_auc_score(labels, score))
    out["auc_pr"] = float("nan") if one_class else float(average_precision_score(labels, score))
    out["affiliation"] = best_affiliation(score, labels)
    return {**out, **vus(score, labels, window), "vus_window": int(window)}
