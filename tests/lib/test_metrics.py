"""Point adjustment and the best-F1 search against hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest

from lib.metrics import detection_delay, pa_counts, point_adjust, prf, segments
from lib.thresholds import best_f1_pa, search_grid

SCORE = np.array([0.1, 0.9, 0.2, 0.3, 0.8, 0.1, 0.1, 0.7, 0.1, 0.1])
LABEL = np.array([0, 0, 1, 1, 1, 0, 0, 1, 1, 0])


def test_segments():
    assert segments(LABEL) == [(2, 5), (7, 9)]
    assert segments(np.ones(4)) == [(0, 4)]
    assert segments(np.zeros(3)) == []


def test_point_adjust_by_hand():
    raw = SCORE > 0.5                      # points 1, 4, 7
    adjusted = point_adjust(raw, LABEL)
    assert np.flatnonzero(adjusted).tolist() == [1, 2, 3, 4, 7, 8]
    m = prf(adjusted, LABEL)
    assert (m["tp"], m["fp"], m["fn"]) == (5, 1, 0)
    assert m["precision"] == pytest.approx(5 / 6) and m["recall"] == 1.0 and m["f1"] == pytest.approx(10 / 11)
    m = prf(point_adjust(SCORE > 0.75, LABEL), LABEL)
    assert (m["tp"], m["fp"], m["fn"]) == (3, 1, 2) and m["f1"] == pytest.approx(2 / 3)


def test_edge_cases():
    none = prf(np.zeros(10, bool), LABEL)
    assert none["precision"] == 0 and none["f1"] == 0 and not np.isnan(none["f1"])
    all_anom = np.ones(6)
    assert prf(point_adjust(np.eye(6)[2].astype(bool), all_anom), all_anom)["f1"] == 1.0
    single = np.array([0, 0, 1, 0, 0])
    assert point_adjust(np.array([0, 0, 1, 0, 0], bool), single).tolist() == [False, False, True, False, False]
    assert prf(point_adjust(np.array([0, 1, 0, 0, 0], bool), single), single)["tp"] == 0


def test_best_f1_search_by_hand():
    # grid: 0.2, 0.3, ..., 0.9; every threshold below 0.7 gives F1 10/11; ties go to the lowest
    np.testing.assert_allclose(search_grid(SCORE, 8), np.arange(2, 10) / 10)
    best = best_f1_pa(SCORE, LABEL, steps=8)
    assert best["f1"] == pytest.approx(10 / 11) and best["threshold"] == pytest.approx(0.2)
    assert best["delay"] == pytest.approx((1 + 0) / 2)  # first hit: index 3 in [2, 5), index 7 in [7, 9)


def test_fast_pa_counts_equal_the_plain_loop():
    rng = np.random.default_rng(0)
    for trial in range(20):
        n = int(rng.integers(20, 300))
        label = (rng.random(n) < 0.05).astype(int)
        label = np.maximum(label, np.roll(label, 1)) if trial % 2 else label  # some longer segments
        score = rng.random(n).round(2)  # ties on purpose
        grid = np.unique(np.concatenate([score, search_grid(score, 37)]))
        tp, fp, fn = pa_counts(score, label, grid)
        for i, t in enumerate(grid):
            m = prf(point_adjust(score > t, label), label)
            assert (tp[i], fp[i], fn[i]) == (m["tp"], m["fp"], m["fn"])


def test_detection_delay():
    assert detection_delay(SCORE, LABEL, 0.75) == 2.0   # only the first segment, hit at its 3rd point
    assert np.isnan(detection_delay(SCORE, LABEL, 0.95))
