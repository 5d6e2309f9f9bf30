"""Affiliation precision and recall (Huet et al., KDD 2022), in closed form.

Events are half-open intervals: a run of points i..j is [i, j + 1). Each
labelled event J owns a zone E, the part of the time line closer to J than
to any other labelled event (split at the midpoints of the gaps; the first
zone starts at 0, the last ends at the series length). Within its zone:

- precision of J: the mean, over the predicted time inside E, of the chance
  that a uniform random point of E lies at least as far from J;
- recall of J: the mean, over J, of the chance that a uniform random point
  of E lies at least as far from the nearest predicted event (each point of
  J judged by the predicted event whose sub-zone it falls in).

Precision averages over the zones that hold any prediction, recall over
all zones. As TSB-AD reports it, "Affiliation-F" is the best F over 100
thresholds evenly spaced from the lowest to the highest score (predicting
score > t); a test checks it against TSB-AD's outputs.
"""
from __future__ import annotations

import numpy as np

from lib.metrics.counts import segments

Interval = tuple[float, float]


def events(label: np.ndarray) -> list[Interval]:
    """Runs of 1 as half-open intervals `[start, end)`."""
    return [(float(s), float(e)) for s, e in segments(label)]


def zones(intervals: list[Interval], lo: float, hi: float) -> list[Interval]:
    """The part of [lo, hi] nearer to each interval than to its neighbours."""
    cuts = [(a_end + b_start) / 2 for (_, a_end), (b_start, _) in zip(intervals[:-1], intervals[1:])]
    bounds = [lo, *cuts, hi]
    return list(zip(bounds[:-1], bounds[1:]))


def _overlap(a: Interval, b: Interval) -> Interval | None:
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if hi > lo else None


def _ramp_area(D: float, a: float, b: float) -> float:
    """Integral of max(D - d, 0) for d from a to b (0 <= a <= b)."""
    if D <= 0:
        return 0.0
    F = lambda x: D * x - x * x / 2
    return F(min(b, D)) - F(min(a, D))


def _precision_integral(piece: Interval, gt: Interval, zone: Interval) -> float:
    """Integral over `piece` of P(dist(X, gt) >= dist(x, gt)), X uniform on `zone`."""
    (x0, x1), (j0, j1), (e0, e1) = piece, gt, zone
    d1, d2, size = j0 - e0, e1 - j1, e1 - e0
    total = max(min(x1, j1) - max(x0, j0), 0.0)                          # inside gt: probability 1
    outside = []                                                         # the distance ranges to gt
    if x0 < j0:
        outside.append((j0 - min(x1, j0), j0 - x0))                      # left of gt
    if x1 > j1:
        outside.append((max(x0, j1) - j1, x1 - j1))                      # right of gt
    for a, b in outside:
        total += (_ramp_area(d1, a, b) + _ramp_area(d2, a, b)) / size
    return total


def _square_ramp(c: float, u: float, v: float, rising: bool) -> float:
    """Integral over y in [u, v] of max(2y - c, 0) (rising) or max(c - 2y, 0)."""
    z = c / 2
    if rising:
        return (max(v, z) - z) ** 2 - (max(u, z) - z) ** 2
    return (z - min(u, z)) ** 2 - (z - min(v, z)) ** 2


def _recall_integral(part: Interval, piece: Interval, zone: Interval) -> float:
    """Integral over `part` (of a labelled event) of P(|X - y| >= dist(y, piece)), X uniform on `zone`."""
    (u, v), (p0, p1), (e0, e1) = part, piece, zone
    size = e1 - e0
    total = max(min(v, p1) - max(u, p0), 0.0)                            # inside the prediction
    if u < p0:                                                           # before it: nearest point p0
        lo, hi = u, min(v, p0)
        total += (_square_ramp(p0 + e0, lo, hi, rising=True) + (e1 - p0) * (hi - lo)) / size
    if v > p1:                                                           # after it: nearest point p1
        lo, hi = max(u, p1), v
        total += ((p1 - e0) * (hi - lo) + _square_ramp(e1 + p1, lo, hi, rising=False)) / size
    return total


def affiliation(pred: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """Affiliation precision, recall and F of 0/1 predictions against 0/1 labels (same length).

    Precision is NaN when nothing is predicted; F then is NaN too."""
    n = float(len(label))
    gt, predicted = events(label), events(pred)
    precisions, recalls = [], []
    for J, E in zip(gt, zones(gt, 0.0, n)):
        pieces = [p for p in (_overlap(I, E) for I in predicted) if p is not None]
        if not pieces:
            precisions.append(np.nan)
            recalls.append(0.0)
            continue
        precisions.append(sum(_precision_integral(p, J, E) for p in pieces) / sum(b - a for a, b in pieces))
        parts = [(_overlap(J, Z), p) for p, Z in zip(pieces, zones(pieces, *E))]
        recalls.append(sum(_recall_integral(part, p, E) for part, p in parts if part) / (J[1] - J[0]))
    valid = [p for p in precisions if not np.isnan(p)]
    precision = float(np.mean(valid)) if valid else float("nan")
    recall = float(np.mean(recalls)) if recalls else float("nan")
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / (precision + recall + 1e-15)}


def best_affiliation(score: np.ndarray, label: np.ndarray, steps: int = 100) -> dict[str, float]:
    """The best affiliation F over `steps` thresholds from min to max score (predict score > t),
    skipping thresholds that predict nothing; NaN if every one does (a constant score)."""
    score = np.asarray(score, dtype=np.float64)
    best = {"precision": float("nan"), "recall": float("nan"), "f1": float("nan"), "threshold": float("nan")}
    for t in np.linspace(score.min(), score.max(), steps):
        m = affiliation(score > t, label)
        if not np.isnan(m["f1"]) and not m["f1"] <= best["f1"]:
            best = {**m, "threshold": float(t)}
    return best
