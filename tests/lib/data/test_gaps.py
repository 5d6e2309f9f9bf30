"""`--impute llm4imp` inside detection: the imputer's training cap, and the fill that skips
windows without a gap, checked against imputing every window."""
from __future__ import annotations

import numpy as np

from lib.config import Config
from lib.data.imputation import standard_stats
from model.imputers import IMPUTERS, llm4imp_filler


class Recording:
    """An imputer that records what it was given and otherwise does what the real one does."""

    def __init__(self, inner):
        self.inner, self.fitted, self.imputed = inner, [], []

    def fit(self, train_set):
        self.fitted.append(train_set["X"].shape)
        return self.inner.fit(train_set)

    def impute(self, test_set):
        self.imputed.append(test_set["X"].shape)
        return self.inner.impute(test_set)

    def save(self, *args, **kwargs):
        return self.inner.save(*args, **kwargs)


def test_llm4imp_fill_caps_training_and_equals_imputing_every_window(tmp_path, monkeypatch):
    cfg = Config(data="synthetic", impute="llm4imp", llm_model="tiny", llm_layers=1, imp_steps=12, epochs=1,
                 batch_size=8, dropout=0.0, max_train_windows=5, seed=1)
    rng = np.random.default_rng(0)
    train = rng.standard_normal((12 * 20, 3))
    made: list[Recording] = []
    real = IMPUTERS["llm4imp"]
    monkeypatch.setitem(IMPUTERS, "llm4imp", lambda c, n: made.append(Recording(real(c, n))) or made[-1])

    fill = llm4imp_filler(cfg, tmp_path / "imputer.pypots", fit=True)(train)
    imputer = made[0]
    assert imputer.fitted == [(5, 12, 3)]                       # 20 windows, capped at 5
    assert fill(train) is not train and imputer.imputed == []   # no gap: the model is not called

    series = rng.standard_normal((12 * 6 + 5, 3))               # 6 windows and an overlapping tail
    series[3, 0] = series[40:44, 2] = series[-1, 1] = np.nan    # gaps in windows 0 and 3, and the tail
    filled = fill(series)
    assert imputer.imputed == [(3, 12, 3)]
    mean, std = standard_stats(train)
    starts = [*range(0, 72, 12), len(series) - 12]
    every = np.asarray(imputer.inner.impute({"X": np.stack([(series[s:s + 12] - mean) / std
                                                            for s in starts]).astype(np.float32)}))
    reference = series.copy()
    for s, w in zip(starts, every * std + mean):
        part = reference[s:s + 12]
        part[np.isnan(part)] = w[np.isnan(part)]
    observed = ~np.isnan(series)
    assert np.array_equal(filled[observed], series[observed]) and not np.isnan(filled).any()
    np.testing.assert_allclose(filled, reference, rtol=1e-5, atol=1e-5)
