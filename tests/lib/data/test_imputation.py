"""Imputation data: splits, scaling, windows, artificial gaps, masked errors."""
from __future__ import annotations

import numpy as np
import pytest

from lib.config import Config
from lib.data.imputation import add_gaps, imputation_splits, masked_errors, to_windows
from lib.errors import UserError


@pytest.mark.parametrize("pattern", ["point", "subseq", "block"])
def test_gaps_hit_the_rate_and_repeat_with_the_seed(pattern):
    X = np.random.default_rng(0).normal(size=(60, 48, 7))
    X[0, :3, 0] = np.nan                                              # a gap already in the data stays
    gappy = add_gaps(X, 0.1, pattern, seed=3)
    new = np.isnan(gappy) & ~np.isnan(X)
    assert new.mean() == pytest.approx(0.1, abs=0.01) and np.isnan(gappy[0, :3, 0]).all()
    np.testing.assert_array_equal(add_gaps(X, 0.1, pattern, seed=3), gappy)
    np.testing.assert_array_equal(gappy[~np.isnan(gappy)], X[~np.isnan(gappy)])


def test_subseq_gaps_come_in_runs():
    X = np.zeros((200, 48, 3))
    gappy = np.isnan(add_gaps(X, 0.1, "subseq", seed=0))
    starts = gappy[:, 1:] & ~gappy[:, :-1]
    assert gappy.sum() >= 8 * starts.sum()                            # runs of 12 steps, not scattered points


@pytest.mark.parametrize("rate", [0.0, 1.0, 1.5])
def test_rate_outside_zero_one_is_refused(rate):
    with pytest.raises(UserError, match=r"\(0, 1\)"):
        add_gaps(np.zeros((2, 8, 2)), rate, "point", 0)


def test_masked_errors_by_hand():
    truth = np.array([[1.0, 2.0], [3.0, -4.0]])
    imputed = np.array([[1.0, 3.0], [3.0, -2.0]])
    holes = np.array([[False, True], [False, True]])
    e = masked_errors(imputed, truth, holes)
    assert e == pytest.approx({"mae": 1.5, "mse": 2.5, "mre": 3.0 / 6.0})


def test_splits_scale_on_train_and_cut_windows(tmp_path):
    cfg = Config(data="synthetic", syn_features=3, syn_train_len=1000, syn_test_len=500, imp_series="both")
    assert imputation_splits(cfg.replace(imp_series="train")).test.shape[0] == 200   # 60/20/20 of train
    d = imputation_splits(cfg)
    assert (d.train.shape[0], d.val.shape[0], d.test.shape[0]) == (800, 200, 500)
    np.testing.assert_allclose(d.train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(d.train.std(axis=0), 1, atol=1e-4)
    w = to_windows(d.test, 48)
    assert w.shape == (10, 48, 3)
    np.testing.assert_array_equal(w[1, 0], d.test[48])


def test_ett_standard_split(real_root):
    d = imputation_splits(Config(data="ETTh1", data_root=str(real_root)))
    assert (d.train.shape, d.val.shape, d.test.shape) == ((8640, 7), (2880, 7), (2880, 7))
    assert d.names[-1] == "OT"
