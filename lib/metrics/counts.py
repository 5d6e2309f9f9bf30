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
    """TP, FP, FN after point adjustment for every threshold (predict score > t)."""
    return adjusted_counts(score, label, thresholds, k=0.0)


def threshold_hits(score: np.ndarray, label: np.ndarray, thresholds: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every threshold t (predict score > t), exactly and at once:
    segment lengths `[S]`, points above t per segment `[S, n_thresholds]`,
    and false positives (normal points above t) `[n_thresholds]`."""
    score = np.asarray(score, dtype=np.float64)
    y = np.asarray(label).astype(bool)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    segs = segments(y)
    lengths = np.array([e - s for s, e in segs], dtype=np.int64)
    hits = np.array([(e - s) - np.searchsorted(np.sort(score[s:e]), thresholds, side="right") for s, e in segs],
                    dtype=np.int64).reshape(len(segs), thresholds.size)
    normal = np.sort(score[~y])
    return lengths, hits, normal.size - np.searchsorted(normal, thresholds, side="right")


def adjusted_counts(score: np.ndarray, label: np.ndarray, thresholds: np.ndarray, k: float = 0.0,
                    hits: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TP, FP, FN `[n_thresholds]` under PA%K (Kim et al., AAAI 2022), predicting score > t.

    A segment whose share of points above t exceeds `k` (0..1) counts as
    wholly detected; otherwise only its points above t count. k = 0 is point
    adjustment, k = 1 no adjustment. `hits`: `threshold_hits`' result, when
    several k share the thresholds.
    """
    lengths, seg_hits, fp = hits if hits is not None else threshold_hits(score, label, thresholds)
    L = lengths[:, None]
    tp = np.where(seg_hits > k * L, L, seg_hits).sum(axis=0)
    return tp, fp, int(lengths.sum()) - tp


def detection_delay(score: np.ndarray, label: np.ndarray, threshold: float) -> float:
    """Mean steps from a detected segment's start to its first point above threshold."""
    delays = []
    for s, e in segments(label):
        hits = np.flatnonzero(np.asarray(score[s:e]) > threshold)
        if hits.size:
            delays.append(hits[0])
    return float(np.mean(delays)) if delays else float("nan")


def hit_rate(feature_scores: np.ndarray, interpretation: list[tuple[int, int, list[int]]], p: float) -> float:
    """HitRate@P (OmniAnomaly, InterFusion): at every step of every interpreted anomaly,
    the share of its responsible features found among the floor(P * |responsible|)
    highest-scoring features; averaged over all those steps.

    feature_scores `[T, N]`; interpretation: `(start, end exclusive, [feature indices])`, the
    convention of SMD's files. NaN when there is nothing to interpret.
    """
    rates = []
    for start, end, dims in interpretation:
        if not dims:
            continue
        k = int(np.floor(p * len(dims)))
        steps = np.arange(start, min(end, feature_scores.shape[0]))
        top = np.argsort(-feature_scores[steps], axis=1, kind="stable")[:, :k]   # [S, k]
        rates.extend(np.isin(top, dims).sum(axis=1) / len(dims))
    return float(np.mean(rates)) if rates else float("nan")
