"""Scoring: normalisation, smoothing, aggregation, top-k."""
from __future__ import annotations

import numpy as np

from lib.config import Config
from lib.score.scores import EPS, aggregate_horizon, norm_stats, normalise, smooth, topk_sum, window_scores


def test_norm_stats_and_normalise():
    err = np.array([1.0, 2.0, 3.0, 4.0, 5.0]).reshape(5, 1, 1)
    centre, spread = norm_stats(err, "iqr")
    assert centre[0, 0] == 3.0 and spread[0, 0] == 2.0
    centre, spread = norm_stats(err, "std")
    assert centre[0, 0] == 3.0 and np.isclose(spread[0, 0], np.std([1, 2, 3, 4, 5]))
    np.testing.assert_allclose(normalise(np.array([7.0]), 3.0, 2.0), [4.0 / (2.0 + EPS)])


def test_smooth_trailing_mean():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_allclose(smooth(x, 2), [1.0, 1.5, 2.5, 3.5, 4.5])
    np.testing.assert_array_equal(smooth(x, 1), x)


def test_aggregate_and_topk():
    x = np.array([[[1.0, 5.0], [3.0, 0.0]]])            # [W=1, H=2, N=2]
    assert aggregate_horizon(x, "max").tolist() == [[3.0, 5.0]]
    assert aggregate_horizon(x, "sum").tolist() == [[4.0, 5.0]]
    assert aggregate_horizon(x, "mean").tolist() == [[2.0, 2.5]]
    assert topk_sum(np.array([[1.0, 7.0, 3.0]]), 2).tolist() == [10.0]


def test_combination_weights_and_reference_statistics():
    rng = np.random.default_rng(0)
    ref = {k: rng.random((50, 2, 3)) for k in ("pred", "recon", "adv")}
    test = {k: rng.random((40, 2, 3)) for k in ("pred", "recon", "adv")}
    test["recon"][10] += 100.0                           # a window far out in one branch only
    only_pred = Config(test_alpha=1, test_beta=0, test_gamma=0, smooth=1)
    only_recon = only_pred.replace(test_alpha=0, test_beta=1)
    assert np.argmax(window_scores(test, ref, only_recon)[0]) == 10
    assert np.argmax(window_scores(test, ref, only_pred)[0]) != 10


def test_window_errors_do_not_depend_on_the_batch_size(tmp_path):
    import torch

    from lib.data import prepare
    from lib.score.branch_errors import window_errors
    from model.registry import build_models
    from tests.conftest import tiny_config

    cfg = tiny_config(tmp_path)
    data = prepare(cfg)
    torch.manual_seed(0)
    pred, recon = build_models(cfg, data.n_features, torch.device("cpu"))
    big = window_errors(pred, recon, data.test, cfg.replace(eval_batch_size=256))
    small = window_errors(pred, recon, data.test, cfg.replace(eval_batch_size=7))
    assert big["pred"].shape == (data.test.shape[0] - cfg.window_size + 1, cfg.n_pred, data.n_features)
    for k in ("pred", "recon", "adv"):
        np.testing.assert_allclose(big[k], small[k], atol=1e-6, rtol=0)
