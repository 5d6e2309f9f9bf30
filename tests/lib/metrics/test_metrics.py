"""Point adjustment and the best-F1 search against hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest

from lib.metrics.counts import adjusted_counts, detection_delay, pa_counts, point_adjust, prf, segments
from lib.metrics.thresholds import best_f1, best_f1_pa, f1_at, pa_k_curve, pot_threshold, quantile_threshold, search_grid

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


def test_pa_k_by_hand():
    # threshold 0.5: segment (2, 5) has 1 of 3 points above (point 4), segment (7, 9) 1 of 2 (point 7)
    t = np.array([0.5])
    counts = lambda k: tuple(int(c[0]) for c in adjusted_counts(SCORE, LABEL, t, k))
    assert counts(0.0) == (5, 1, 0)                 # point adjustment: both segments whole
    assert counts(0.4) == (3, 1, 2)                 # 1/3 <= 0.4 < 1/2: only the second is filled (1 + 2)
    assert counts(0.5) == (2, 1, 3)                 # 1/2 does not exceed 0.5: no segment is filled
    assert counts(1.0) == (2, 1, 3)                 # no adjustment
    assert f1_at(SCORE, LABEL, 0.5)["f1"] == pytest.approx(prf(SCORE > 0.5, LABEL)["f1"])


def test_pa_k_edge_cases():
    # no predicted positives: a threshold above every score
    assert f1_at(SCORE, LABEL, 1.0)["f1"] == 0 and f1_at(SCORE, LABEL, 1.0, k=0.0)["recall"] == 0
    # a series that is one anomalous segment: any hit fills it under PA, only the hits count without
    whole = np.ones(10)
    assert f1_at(SCORE, whole, 0.75, k=0.0)["f1"] == 1.0
    assert f1_at(SCORE, whole, 0.75)["recall"] == pytest.approx(0.2)
    # a single-point segment is filled or not, whatever K
    single, score = np.array([0, 0, 1, 0, 0]), np.array([0.1, 0.2, 0.9, 0.3, 0.1])
    assert all(f1_at(score, single, 0.5, k=k)["f1"] == 1.0 for k in (0.0, 0.5, 1.0))


def test_pa_k_curve_spans_pa_and_pointwise_f1():
    rng = np.random.default_rng(0)
    label = np.zeros(2000, int)
    for s in (200, 700, 1300):
        label[s:s + 60] = 1
    score = rng.random(2000)                               # a random detector
    curve = pa_k_curve(score, label, steps=200)
    assert curve["f1"][0] == pytest.approx(best_f1(score, label, 200, k=0.0)["f1"])
    assert curve["f1"][100] == pytest.approx(best_f1(score, label, 200, k=1.0)["f1"])
    assert np.all(np.diff(curve["f1"]) <= 1e-12)          # a larger K never fills more
    # point adjustment flatters random scores; the area under PA%K does not
    assert curve["f1"][0] > 0.6 and curve["auc"] < 0.3


def test_pot_finds_the_gaussian_tail_quantile():
    from scipy.stats import norm
    x = np.random.default_rng(0).normal(size=100_000)
    for q in (1e-3, 1e-4):
        pot = pot_threshold(x, q, level=0.98)
        assert pot["threshold"] == pytest.approx(norm.ppf(1 - q), abs=0.1) and pot["method"] == "pot"
        assert pot["n_excess"] == 2000 and pot["n_calibration"] == x.size
    assert quantile_threshold(x, 0.99) == pytest.approx(norm.ppf(0.99), abs=0.02)


def test_a_pot_without_a_tail_says_it_is_a_quantile():
    """200 calibration scores have 4 above their 0.98 quantile: no tail to fit, and the result
    must say that its threshold is the quantile, not POT."""
    x = np.random.default_rng(1).normal(size=200)
    pot = pot_threshold(x, 1e-3, level=0.98)
    assert pot["method"] == "quantile (fallback)" and pot["n_excess"] == 4
    assert pot["threshold"] == pytest.approx(np.quantile(x, 0.98))


def test_hit_rate_by_hand():
    from lib.metrics.counts import hit_rate
    scores = np.array([[0.9, 0.1, 0.5, 0.2],      # step 0: ranking 0, 2, 3, 1
                       [0.1, 0.8, 0.7, 0.0]])     # step 1: ranking 1, 2, 0, 3
    interp = [(0, 2, [0, 3])]                      # features 0 and 3 were responsible at steps 0..1 (end exclusive)
    # @100 %: top 2 -> step 0 finds {0} of {0, 3}: 1/2; step 1 finds none: 0 -> mean 1/4
    assert hit_rate(scores, interp, 1.0) == pytest.approx(0.25)
    # @150 %: top 3 -> step 0 finds {0, 3}: 1; step 1 finds {0}: 1/2 -> mean 3/4
    assert hit_rate(scores, interp, 1.5) == pytest.approx(0.75)
    assert np.isnan(hit_rate(scores, [], 1.0))


def test_explain_names_the_features_and_branch_of_each_alarm(tmp_path):
    from lib.score.judge import explain
    from tests.conftest import tiny_config
    cfg = tiny_config(tmp_path, test_alpha=1.0, test_beta=1.0, test_gamma=0.0)
    score = np.array([0, 5, 5, 0, 0, 7, 0], float)              # two alarms above 1: steps 1-2 and 5
    feats = {b: np.zeros((7, 3)) for b in ("pred", "recon", "adv", "combined")}
    feats["pred"][1:3, 2] = 4                                     # the first alarm: feature c, from prediction
    feats["recon"][5, 0] = 6                                      # the second: feature a, from reconstruction
    feats["combined"] = feats["pred"] + feats["recon"]
    alarms = explain(score, feats, 1.0, cfg, ["a", "b", "c"], k=1)
    assert [(a["start"], a["end"], a["top_features"], a["branch"]) for a in alarms] == \
        [(1, 2, ["c"], "pred"), (5, 5, ["a"], "recon")]
    assert "adv" not in alarms[0]["branch_scores"]                # gamma = 0: the branch does not count
