"""Pure preprocessing functions."""
from __future__ import annotations

import io
import sys

import numpy as np
import torch

import lib.data.windows as windows
from lib.config import Config
from lib.data.windows import (add_channels, apply_minmax, downsample, fit_minmax, gather_windows,
                              moving_averages, split_train_val, upsample, window_starts, window_to_time)
from lib.utils import progress


def test_downsample_median_features_max_labels():
    x = np.array([[1.0], [5.0], [3.0], [10.0], [0.0]])
    np.testing.assert_array_equal(downsample(x, 3), [[3.0], [5.0]])
    lab = np.array([0, 0, 1, 0, 0, 0, 0])
    assert downsample(lab, 3, is_label=True).tolist() == [1, 0, 0]
    assert downsample(lab, 1, is_label=True) is lab


def test_minmax_constant_column_and_clip():
    train = np.array([[0.0, 2.0], [10.0, 2.0]])
    lo, rng = fit_minmax(train)
    out = apply_minmax(np.array([[5.0, 2.0], [20.0, 3.0]]), lo, rng, clip=True)
    np.testing.assert_array_equal(out, [[0.5, 0.0], [1.0, 1.0]])
    assert apply_minmax(np.array([[20.0, 2.0]]), lo, rng)[0, 0] == 2.0


def test_moving_averages_are_causal_trailing_means():
    x = np.arange(10, dtype=float)[:, None]
    ma = moving_averages(x, [3])[:, 0, 0]
    naive = [x[max(0, t - 2): t + 1, 0].mean() for t in range(10)]
    np.testing.assert_allclose(ma, naive)
    assert add_channels(x, [2, 3]).shape == (10, 1, 3) and add_channels(x, None).shape == (10, 1, 1)


def test_split_and_windows():
    tr, va = split_train_val(np.arange(10), 0.2)
    assert tr.tolist() == list(range(8)) and va.tolist() == [8, 9]
    series = torch.arange(12, dtype=torch.float32).reshape(6, 2, 1)
    w = gather_windows(series, torch.tensor([0, 2]), 3)
    assert w.shape == (2, 3, 2, 1) and w[1, 0, 0, 0] == 4
    assert window_starts(10, 4).tolist() == list(range(7))
    assert window_starts(100, 4, max_windows=3).tolist() == [0, 48, 96]


def test_window_scores_map_back_to_time_steps():
    scores = np.array([1.0, 2.0, 3.0])                 # T=5, L=3: windows end at steps 2, 3, 4
    assert window_to_time(scores, 3, 5).tolist() == [1.0, 1.0, 1.0, 2.0, 3.0]
    assert upsample(np.array([1.0, 2.0]), 3, 5).tolist() == [1, 1, 1, 2, 2]


def test_window_bar_off_a_terminal_yields_the_plain_windows_and_reports_progress(monkeypatch):
    lines: list[str] = []
    monkeypatch.setattr(sys, "stderr", io.StringIO())   # not a terminal
    monkeypatch.setattr(windows, "progress", lambda *a, **k: progress(*a, every_s=0.0, say=lines.append, **k))
    cfg, series = Config(), torch.randn(300, 3)
    bar = windows.window_bar(series, cfg, "scoring", batch_size=32)
    got = list(bar)
    bar.set_postfix(loss="0.1")   # the trainer's call works on the silent bar
    want = list(windows.iterate_windows(series, cfg, False, 0, 0, 32, (0, 1)))
    assert len(got) == len(want) == len(lines) > 1 and all(torch.equal(a, b) for a, b in zip(got, want))
    assert lines[-1].startswith(f"scoring: {len(want) - 1}/{len(want)} ")
    lines.clear()
    assert len(list(windows.window_bar(series, cfg, "scoring", batch_size=32, shard=(1, 2)))) > 0
    assert lines == []   # only the first process reports
