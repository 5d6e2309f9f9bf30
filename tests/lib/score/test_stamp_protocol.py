"""The STAMP-protocol columns against STAMP's own arithmetic, and the scoring defaults that make
them STAMP's: whole-window errors, test-error normalisation, window labels, no clipping.

`stamp_reference` is written from a reading of STAMP's `lib/evaluate.py` (chentingyang/STAMP:
`get_err_scores` with option 2, `get_Test_scores_err_max`, `get_score_PredAndAE`, `bf_search`,
`adjust_predicts`, `calc_point2point`) and its `lib/dataloader_smd.py` (window labels), loop by
loop, so that it shares nothing with `lib/` but the idea.
"""
from __future__ import annotations

import numpy as np
import pytest

from lib.config import Config


def window_labels(step_labels: np.ndarray, window: int) -> np.ndarray:
    """STAMP's window labels, as its dataloader builds them."""
    return np.array([1 if np.sum(step_labels[i:i + window]) > 0 else 0 for i in range(len(step_labels) - window + 1)])


def _final(*args, **kw):
    from lib.score.judge import get_final_result
    return get_final_result(*args, **kw)


def _labels(step_labels: np.ndarray):
    from lib.score.judge import Labels
    return Labels(orig=step_labels, model=step_labels)


# ---- STAMP, as read -----------------------------------------------------------------------------
def _stamp_branch(pred: np.ndarray, truth: np.ndarray, method: str) -> np.ndarray:
    """get_Test_scores_err_max(option=2): per step i of the window and per feature, errors
    normalised by their own mean and std over all windows, smoothed over 4 windows; then max /
    mean / sum over the steps. pred, truth `[W, S, N]` -> `[N, W]`."""
    per_step = []
    for i in range(pred.shape[1]):
        feats = []
        for f in range(pred.shape[2]):
            delta = np.abs(pred[:, i, f].astype(np.float64) - truth[:, i, f].astype(np.float64))
            err = (delta - np.mean(delta)) / (np.abs(np.std(delta)) + 1e-2)
            smoothed = np.zeros(err.shape)
            for j in range(len(err)):
                smoothed[j] = err[j] if j < 3 else np.mean(err[j - 3:j + 1])
            feats.append(smoothed)
        per_step.append(np.vstack(feats))
    stacked = np.array(per_step)
    return {"max": stacked.max(axis=0), "mean": stacked.mean(axis=0), "sum": stacked.sum(axis=0)}[method]


def _stamp_adjust(score, label, threshold):
    predict = score > threshold
    actual = label > 0.1
    state = False
    for i in range(len(score)):
        if actual[i] and predict[i] and not state:
            state = True
            for j in range(i, 0, -1):
                if not actual[j]:
                    break
                predict[j] = True
        elif not actual[i]:
            state = False
        if state:
            predict[i] = True
    return predict


def _stamp_point2point(predict, actual):
    tp = np.sum(predict * actual)
    fp = np.sum(predict * (1 - actual))
    fn = np.sum((1 - predict) * actual)
    precision = tp / (tp + fp + 0.00001)
    recall = tp / (tp + fn + 0.00001)
    return 2 * precision * recall / (precision + recall + 0.00001), precision, recall


def stamp_reference(errors: dict[str, tuple[np.ndarray, np.ndarray]], step_labels: np.ndarray, window: int,
                    alpha: float, beta: float, gamma: float, topk: int, steps: int, method: str = "max") -> dict:
    """STAMP's get_final_result on (prediction, truth) pairs per branch, with its window labels."""
    scores = 0
    for w, key in ((alpha, "pred"), (beta, "recon"), (gamma, "adv")):
        if w > 0:
            scores = scores + w * _stamp_branch(*errors[key], method)
    n = scores.shape[0]
    idx = np.argpartition(scores, range(n - topk - 1, n), axis=0)[-topk:]
    total = np.sum(np.take_along_axis(scores, idx, axis=0), axis=0)
    labels = window_labels(step_labels, window).astype(float)
    best, best_t, threshold = (-1.0, -1.0, -1.0), 0.0, total.min()
    for _ in range(steps):
        threshold += (total.max() - total.min()) / float(steps)
        t = _stamp_point2point(_stamp_adjust(total, labels, threshold), labels)
        if t[0] > best[0]:
            best, best_t = t, threshold
    return {"f1": best[0], "precision": best[1], "recall": best[2], "threshold": best_t, "score": total}


# ---- ours, on the same errors -------------------------------------------------------------------
def _errors_case(seed: int = 0, W: int = 400, L: int = 6, H: int = 2, N: int = 5):
    """Forecasts and reconstructions with anomalous stretches; STAMP's pairs and our |errors|."""
    rng = np.random.default_rng(seed)
    truth = rng.random((W, L, N))
    step_labels = np.zeros(W + L - 1, dtype=np.int64)
    for s in (60, 150, 151, 290):
        step_labels[s:s + 7] = 1
    bump = np.zeros(W)
    bump[window_labels(step_labels, L) == 1] = 0.6
    noise = lambda shape: rng.normal(0, 0.1, shape)
    recon = truth + noise((W, L, N)) + bump[:, None, None] * (rng.random((W, 1, N)) > 0.6)
    forecast = truth[:, -H:] + noise((W, H, N)) + bump[:, None, None] * (rng.random((W, 1, N)) > 0.5)
    filled = np.concatenate([truth[:, :-H], forecast], axis=1)
    refilled = filled + noise((W, L, N))
    pairs = {"pred": (forecast, truth[:, -H:]), "recon": (recon, truth), "adv": (filled, refilled)}
    ours = {k: np.abs(a - b) for k, (a, b) in pairs.items()}
    return pairs, ours, step_labels, L


@pytest.mark.parametrize("method", ["max", "sum", "mean"])
@pytest.mark.parametrize("weights,topk", [((0.4, 0.3, 0.3), 1), ((0.5, 0.0, 0.5), 2), ((1.0, 0.0, 0.0), 3)])
def test_default_scoring_equals_stamps_get_final_result(method, weights, topk):
    pairs, ours, step_labels, L = _errors_case()
    a, b, g = weights
    ref = stamp_reference(pairs, step_labels, L, a, b, g, topk, steps=500, method=method)
    cfg = Config(window_size=L, n_pred=2, test_alpha=a, test_beta=b, test_gamma=g, topk=topk, score_agg=method)
    labels = _labels(step_labels)
    val = {k: v[:50] for k, v in ours.items()}     # only the label-free columns read it
    res = _final(ours, val, labels, cfg, vus_window=10)
    np.testing.assert_allclose(res["window_score"], ref["score"], rtol=1e-12, atol=1e-12)
    m = res["metrics"]
    assert m["labels"] == "window" and m["grid"] == 500
    # the same grid step: scores agree to rounding (summed in another order), so does the threshold
    assert m["threshold"] == pytest.approx(ref["threshold"], rel=1e-12)
    for k in ("f1", "precision", "recall"):           # STAMP adds 1e-5 to each denominator
        assert m[k] == pytest.approx(ref[k], abs=1e-4)


def test_stamp_defaults_are_the_config_defaults():
    """Defect 2 and the rest of STAMP's preprocessing and scoring: the defaults are STAMP's."""
    c = Config()
    assert (c.clip_test, c.score_norm, c.norm_source, c.score_span, c.stamp_labels, c.smooth) == \
        (False, "std", "test", "window", "window", 4)


def test_clip_test_is_a_scoring_flag():
    """Defect 2: a checkpoint can be rescored with and without clipping, no retraining."""
    from test import SCORING_FLAGS, config_from_checkpoint

    assert {"clip_test", "score_span", "stamp_labels", "calib_windows"} <= SCORING_FLAGS
    ckpt = {"config": Config().to_dict()}
    assert config_from_checkpoint(ckpt, {"clip_test": True}, "x.pth").clip_test is True


def test_window_errors_score_the_whole_window_by_default(tmp_path):
    """Defect 3: reconstruction and adversarial errors over all L steps, as STAMP; the last H
    only with --score_span horizon."""
    import torch

    from lib.data import prepare
    from lib.score.branch_errors import window_errors
    from model.registry import build_models
    from tests.conftest import tiny_config

    cfg = tiny_config(tmp_path)
    data = prepare(cfg)
    torch.manual_seed(0)
    pred, recon = build_models(cfg, data.n_features, torch.device("cpu"))
    whole = window_errors(pred, recon, data.test, cfg)
    W = data.test.shape[0] - cfg.window_size + 1
    assert whole["pred"].shape == (W, cfg.n_pred, 3)
    assert whole["recon"].shape == whole["adv"].shape == (W, cfg.window_size, 3)
    last = window_errors(pred, recon, data.test, cfg.replace(score_span="horizon"))
    assert last["recon"].shape == (W, cfg.n_pred, 3)
    np.testing.assert_allclose(last["recon"], whole["recon"][:, -cfg.n_pred:], atol=1e-6)


def test_step_labels_are_a_flag_and_window_labels_by_default():
    pairs, ours, step_labels, L = _errors_case(seed=3)
    labels = _labels(step_labels)
    cfg = Config(window_size=L, n_pred=2)
    by_window = _final(ours, ours, labels, cfg, vus_window=10)["metrics"]
    by_step = _final(ours, ours, labels, cfg.replace(stamp_labels="step"), vus_window=10)["metrics"]
    assert by_window["labels"] == "window" and by_step["labels"] == "step"
    assert by_window["tp"] + by_window["fn"] == window_labels(step_labels, L).sum()
    assert by_step["tp"] + by_step["fn"] == step_labels.sum()


def test_label_free_numbers_use_no_test_statistics():
    """The label-free score is normalised by validation statistics, so a window's label-free
    score depends on its own errors (and its smoothing neighbours') alone: changing the test
    errors of later windows must leave earlier windows' label-free scores and the thresholds
    as they were, while STAMP's test-normalised score moves everywhere."""
    _, ours, step_labels, L = _errors_case(seed=4)
    labels = _labels(step_labels)
    val = {k: v[:100] for k, v in ours.items()}
    cfg = Config(window_size=L, n_pred=2)
    later = {k: v.copy() for k, v in ours.items()}
    for v in later.values():
        v[300:] *= 5.0
    a = _final(ours, val, labels, cfg, vus_window=10)
    b = _final(later, val, labels, cfg, vus_window=10)
    np.testing.assert_array_equal(a["free_score"][:250], b["free_score"][:250])
    assert a["label_free"]["pot"]["threshold"] == b["label_free"]["pot"]["threshold"]
    assert not np.allclose(a["window_score"][:250], b["window_score"][:250])


# ---- the other defects ------------------------------------------------------------------------
def test_f1_without_pa_is_exact_as_tsbad_computes_it():
    """Defect 9: the best F1 over every distinct score equals TSB-AD's Standard-F1 on its own
    outputs (up to the 1e-5 TSB-AD adds to the denominator)."""
    from lib.metrics.thresholds import best_f1, best_f1_exact
    from tests.lib.metrics.test_reference_metrics import ARRAYS, REFERENCE

    ref = REFERENCE["cases"]
    worse_on_grid = 0
    for name in ref:
        score, label = ARRAYS[f"{name}_score"], ARRAYS[f"{name}_label"]
        want = ref[name]["metrics"]["slidingWindow=10"]["Standard-F1"]
        assert best_f1_exact(score, label)["f1"] == pytest.approx(want, abs=1e-4), name
        worse_on_grid += best_f1(score, label, 50, k=1.0)["f1"] < want - 1e-3
    assert worse_on_grid   # a grid misses the best threshold on some case: why the exact search exists


def test_pa_f1_says_its_grid():
    from lib.metrics.thresholds import best_f1_pa

    out = best_f1_pa(np.arange(10.0), (np.arange(10) > 6).astype(int), steps=37)
    assert out["grid"] == 37


def test_hit_rate_ranges_are_end_exclusive():
    """Defect 5: SMD's interpretation range a-b covers steps a..b-1; step b (normal) must not count."""
    from lib.metrics.counts import hit_rate

    scores = np.zeros((6, 3))
    scores[2:4, 1] = 1.0        # steps 2, 3: feature 1 ranks first
    scores[4, 0] = 1.0          # step 4 (the range's end, a normal step): another feature
    assert hit_rate(scores, [(2, 4, [1])], 1.0) == 1.0


def test_each_epoch_trains_on_other_windows():
    """Defect 4: a capped epoch takes evenly spaced windows from its own seeded offset."""
    from lib.data.windows import epoch_starts

    cfg = Config(window_size=5, seed=7)
    e1, e2 = (epoch_starts(2000, cfg, True, epoch, 100) for epoch in (1, 2))
    assert len(e1) == len(e2) == 100 and not np.array_equal(e1, e2)
    np.testing.assert_array_equal(e1, epoch_starts(2000, cfg, True, 1, 100))   # resumable
    assert np.all(np.diff(e1) >= 19) and np.all(np.diff(e1) <= 21)          # still one in every 20
    assert not np.array_equal(e1, epoch_starts(2000, cfg.replace(seed=8), True, 1, 100))
    np.testing.assert_array_equal(epoch_starts(2000, cfg, False, 0, 0), np.arange(1996))


def test_calibration_windows_are_the_last_consecutive_ones():
    """Defect 1: POT calibrates on consecutive validation windows, not spaced ones."""
    from lib.data.windows import last_windows

    series = np.arange(100)[:, None]
    assert last_windows(series, 10, 0).shape[0] == 100
    tail = last_windows(series, 10, 30)
    assert tail.shape[0] == 39 and tail[0, 0] == 61   # 30 windows of 10 steps end at step 99


def test_vus_window_comes_from_the_raw_test_series():
    """Defect 10: TSB-AD's find_length_rank runs on the raw first feature, not the scaled,
    clipped, down-sampled one."""
    from types import SimpleNamespace

    import torch

    from test import vus_window

    t = np.arange(4000)
    raw = 100 + 50 * np.sin(2 * np.pi * t / 50)
    flat = torch.zeros((800, 1, 1))              # what scaling and clipping may leave of it
    data = SimpleNamespace(test=flat, test_raw_first=raw)
    assert vus_window(Config(down_len=5), data) == 50
    assert vus_window(Config(vus_window=7), data) == 7


def test_a_changed_scaler_is_refused():
    """Defect 7: test.py stops when the scaler it recomputes is not the checkpoint's."""
    from types import SimpleNamespace

    from lib.errors import UserError
    from test import check_scaler

    ckpt = {"scaler_min": np.zeros(3), "scaler_scale": np.ones(3)}
    check_scaler(ckpt, SimpleNamespace(scaler_min=np.zeros(3), scaler_scale=np.ones(3)), "m.pth")
    with pytest.raises(UserError, match="scaler_scale of feature 2"):
        check_scaler(ckpt, SimpleNamespace(scaler_min=np.zeros(3), scaler_scale=np.array([1, 1, 2.0])), "m.pth")
