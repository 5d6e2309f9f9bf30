"""The sanity baselines on the project's synthetic data, through the same metrics as a model."""
from __future__ import annotations

import numpy as np
import torch

from lib.score.baselines import BASELINES, baseline_scores, flatten, series_windows
from lib.score.judge import Labels, judge
from tests.conftest import tiny_config


def test_windows_shape_and_order():
    series = torch.arange(24.0).reshape(6, 2, 2)                      # [T=6, N=2, C=2]
    w = flatten(series_windows(series, window_size=3))
    assert w.shape == (4, 6)                                           # 4 windows of 3 steps x 2 features
    np.testing.assert_array_equal(w[1], [4, 6, 8, 10, 12, 14])        # steps 1..3, channel 0 only


def test_pca_feature_scores_split_the_window_error(tmp_path):
    rng = np.random.default_rng(0)
    fit = rng.normal(size=(200, 5, 1)) + 0.05 * rng.normal(size=(200, 5, 3))   # three copies of one signal
    test = fit[:20].copy()
    test[:, :, 2] += 4.0                                               # feature 2 breaks the correlations
    [(window, feats)] = BASELINES["pca"](fit, [test], 0)
    assert feats.shape == (20, 3)
    np.testing.assert_allclose(feats.mean(axis=1), window)            # the window score is their mean
    assert (feats.argmax(axis=1) == 2).all()                           # and the faulty feature ranks first


def test_baselines_through_the_protocol(tmp_path):
    from lib.data import prepare
    cfg = tiny_config(tmp_path, syn_features=4, syn_train_len=1500, syn_test_len=1500, window_size=10, n_pred=2)
    data = prepare(cfg)
    labels = data.test_labels_orig
    vus_pr = {}
    for name in BASELINES:
        (val_s, _), (test_s, feats) = baseline_scores(name, data.train, [data.val, data.test], cfg)
        assert test_s.shape == (data.test.shape[0] - 9,) and val_s.shape == (data.val.shape[0] - 9,)
        assert feats is None if name == "iforest" else feats.shape == (len(test_s), 4)
        again = baseline_scores(name, data.train, [data.val, data.test], cfg)[1][0]
        np.testing.assert_array_equal(test_s, again)                   # seeded
        judged = judge(test_s, val_s, Labels(orig=labels, model=data.test_labels), cfg, vus_window=20)
        vus_pr[name] = judged["beyond_pa"]["vus_pr"]
        if name == "random":   # point adjustment flatters noise; the other views do not
            assert judged["metrics"]["f1"] > 0.5 and judged["beyond_pa"]["pa_k"]["auc"] < 0.3
    assert vus_pr["random"] < 0.15 < max(vus_pr["pca"], vus_pr["iforest"])
