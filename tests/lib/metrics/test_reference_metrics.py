"""VUS, affiliation and the threshold-free AUCs against TSB-AD's own outputs, and VUS on hand-made cases."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lib.metrics.affiliation import affiliation, best_affiliation
from lib.metrics import metrics
from lib.metrics.vus import find_period, soft_labels, vus, widened_regions

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "tsbad"
REFERENCE = json.loads((GOLDEN / "tsbad_metrics.json").read_text())
ARRAYS = np.load(GOLDEN / "tsbad_cases.npz")
CASES = [(case, w) for case in REFERENCE["cases"] for w in (10, 100)]


@pytest.mark.parametrize("case,w", CASES)
def test_vus_and_aucs_match_tsb_ad(case, w):
    score, label = ARRAYS[f"{case}_score"], ARRAYS[f"{case}_label"]
    ref = REFERENCE["cases"][case]["metrics"][f"slidingWindow={w}"]
    ours = vus(score, label, w)
    assert ours["vus_roc"] == pytest.approx(ref["VUS-ROC"], abs=1e-6)
    assert ours["vus_pr"] == pytest.approx(ref["VUS-PR"], abs=1e-6)
    extra = metrics(score, label, w, steps=100, pa_threshold=float(np.median(score)))
    assert extra["auc_roc"] == pytest.approx(ref["AUC-ROC"], abs=1e-6)
    assert extra["auc_pr"] == pytest.approx(ref["AUC-PR"], abs=1e-6)
    assert extra["vus_pr"] == ours["vus_pr"]


def test_period_matches_tsb_ad():
    t = np.arange(5000)
    assert find_period(np.sin(2 * np.pi * t / 50)) == REFERENCE["find_length_rank"]["periodic_period_50"]
    assert find_period(np.ones(500)) == 125                    # no autocorrelation to read: the fallback


def test_soft_labels_and_regions_by_hand():
    y = np.array([0, 0, 0, 1, 1, 0, 0, 0, 0, 1])
    segs = [(3, 5), (9, 10)]
    ext = soft_labels(y, segs, w=4)                            # 2 buffer points per side: sqrt(3/4), sqrt(1/2)
    a, b = np.sqrt(0.75), np.sqrt(0.5)
    np.testing.assert_allclose(ext, [0, b, a, 1, 1, a, b, b, a, 1])
    assert widened_regions(segs, h=2, n=10) == [(1, 6), (7, 9)]  # side by side, not overlapping: two regions
    assert widened_regions(segs, h=3, n=10) == [(0, 9)]          # overlapping: one, cut at the series ends
    assert widened_regions(segs, h=0, n=10) == [(3, 4), (9, 9)]
    np.testing.assert_array_equal(soft_labels(y, segs, w=1), y)  # w // 2 = 0: no buffer


def test_vus_by_hand_without_buffer():
    # w = 0: range-based = point-wise. A perfect score ranks both anomalies first.
    y = np.zeros(20, int)
    y[[4, 12]] = 1
    perfect = vus(y.astype(float) + np.linspace(0, 0.1, 20), y, 0)
    assert perfect["vus_roc"] == pytest.approx(1.0) and perfect["vus_pr"] == pytest.approx(1.0)
    assert np.isnan(vus(np.arange(5.0), np.ones(5), 3)["vus_pr"])   # one class: undefined


def test_random_scores_flatter_pa_but_not_vus():
    score, label = ARRAYS["random_scores_score"], ARRAYS["random_scores_label"]
    extra = metrics(score, label, 10, steps=100, pa_threshold=0.5)
    assert extra["pa_k"]["f1"][0] > 0.6 and extra["vus_pr"] < 0.15 and extra["pa_k"]["auc"] < 0.3


@pytest.mark.parametrize("case", list(REFERENCE["cases"]))
def test_affiliation_matches_tsb_ad(case):
    score, label = ARRAYS[f"{case}_score"], ARRAYS[f"{case}_label"]
    ref = REFERENCE["cases"][case]["metrics"]["slidingWindow=10"]["Affiliation-F"]
    ours = best_affiliation(score, label)["f1"]
    assert (np.isnan(ours) and np.isnan(ref)) or ours == pytest.approx(ref, abs=1e-6)


def test_affiliation_by_hand():
    label = np.zeros(10, int)
    label[4:6] = 1                                              # J = [4, 6), its zone the whole [0, 10]
    exact = affiliation(label, label)
    assert exact["precision"] == pytest.approx(1) and exact["recall"] == pytest.approx(1)
    far = affiliation(np.eye(10, dtype=int)[0], label)          # one alarm at point 0: [0, 1)
    # precision: distances 3..4 from J, P(dist(X, J) >= d) = 2 (4 - d) / 10, averaged over [0, 1): 0.1
    # recall: y in [4, 6) is 1 + max(11 - 2y, 0) over 10; integral 4.25 / 10 / |J| = 0.2125
    assert far["precision"] == pytest.approx(0.1) and far["recall"] == pytest.approx(0.2125)
    none = affiliation(np.zeros(10, int), label)                # nothing predicted
    assert np.isnan(none["precision"]) and none["recall"] == 0 and np.isnan(none["f1"])
