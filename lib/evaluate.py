"""STAMP's `get_final_result`, composed from scoring, thresholds and metrics.

Window scores are mapped back to the steps of the original test series
(undoing windowing and down-sampling), so the scores, labels and plots all
align with the series the user gave.
"""
from __future__ import annotations

import numpy as np

from lib.data.windows import upsample, window_to_time
from lib.scoring import window_scores
from lib.thresholds import best_f1_pa


def scores_to_time(scores: np.ndarray, cfg, n_down: int, n_orig: int) -> np.ndarray:
    """Window scores `[W, ...]` -> per-step scores of the original test series `[n_orig, ...]`."""
    return upsample(window_to_time(scores, cfg.window_size, n_down), cfg.down_len, n_orig)


def get_final_result(test_err: dict[str, np.ndarray], val_err: dict[str, np.ndarray], labels: np.ndarray,
                     cfg, n_down: int) -> dict:
    """Scores and the STAMP-protocol metrics (best-F1 with point adjustment).

    labels: `[T]` of the original test series; n_down: test length at model
    resolution. Returns `{"score": [T], "feature_scores": [T, N], "metrics": {...},
    "by_score_agg": {max|sum|mean: metrics}}`.
    """
    ref = test_err if cfg.norm_source == "test" else val_err
    T = labels.shape[0]
    by_agg = {}
    for agg in ("max", "sum", "mean"):
        s, _ = window_scores(test_err, ref, cfg, score_agg=agg)
        by_agg[agg] = best_f1_pa(scores_to_time(s, cfg, n_down, T), labels, cfg.search_steps)
    s, feats = window_scores(test_err, ref, cfg)
    score = scores_to_time(s, cfg, n_down, T)
    return {"score": score, "feature_scores": scores_to_time(feats["combined"], cfg, n_down, T),
            "metrics": by_agg[cfg.score_agg], "by_score_agg": by_agg}
