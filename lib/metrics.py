"""Point-wise detection metrics. Pure: arrays in, numbers or dicts out.

Point adjustment (PA): if any point of a labelled anomaly segment is
predicted, the whole segment counts as predicted. It is STAMP's protocol,
and it flatters: read it beside threshold-free metrics.
"""
from __future__ import annotations

import numpy as np


def segments(label: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs of label == 1 as (start, end) pairs, end exclusive."""
    lab = np.asarray(label).astype(bool).astype(np.int8)
    edges = np.diff(np.concatenate([[0], lab, [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def point_adjust(pred: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Predictions with every touched anomaly segment filled in."""
    out = np.asarray(pred).astype(bool).copy()
    for s, e in segments(label):
        if out[s:e].any():
            out[s:e] = True
    return out


def prf(pred: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """Precision, recall, F1 and counts; 0 (not NaN) where a ratio is undefined."""
    p = np.asarray(pred).astype(bool)
    y = np.asarray(label).astype(bool)
    tp, fp, fn = int((p & y).sum()), int((p & ~y).sum()), int((~p & y).sum())
    return prf_from_counts(tp, fp, fn)


def prf_from_counts(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def pa_counts(score: np.ndarray, label: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TP, FP, FN after point adjustment for every threshold (predict score > t).

    Exact and O((n + m) log n): a segment is detected iff its maximum score
    exceeds t, and the false positives are the normal points above t.
    """
    score = np.asarray(score, dtype=np.float64)
    y = np.asarray(label).astype(bool)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    segs = segments(y)
    seg_max = np.array([score[s:e].max() for s, e in segs]) if segs else np.zeros(0)
    seg_len = np.array([e - s for s, e in segs], dtype=np.int64)
    order = np.argsort(seg_max)
    sorted_max, cum_len = seg_max[order], np.concatenate([[0], np.cumsum(seg_len[order])])
    # segments with max <= t are missed
    missed = cum_len[np.searchsorted(sorted_max, thresholds, side="right")]
    tp = seg_len.sum() - missed
    normal = np.sort(score[~y])
    fp = normal.size - np.searchsorted(normal, thresholds, side="right")
    return tp, fp, missed


def detection_delay(score: np.ndarray, label: np.ndarray, threshold: float) -> float:
    """Mean steps from a detected segment's start to its first point above threshold."""
    delays = []
    for s, e in segments(label):
        hits = np.flatnonzero(np.asarray(score[s:e]) > threshold)
        if hits.size:
            delays.append(hits[0])
    return float(np.mean(delays)) if delays else float("nan")
