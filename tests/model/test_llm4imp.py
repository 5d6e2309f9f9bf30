"""LLM4IMP on tiny random backbones: the imputer's contract, its loss, PyPOTS's API."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.errors import UserError
from model.llm4imp.layers import PromptBuilder, longest_gaps
from model.llm4imp.model import LLM4IMP

T, D = 12, 3


def imputer(**kw) -> LLM4IMP:
    args = dict(n_steps=T, n_features=D, llm_model="tiny", llm_layers=2, epochs=2, batch_size=8, dropout=0.0,
                verbose=False)
    return LLM4IMP(**{**args, **kw})


def gappy(n: int = 24, rate: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(complete series, the same with NaN gaps) `[n, T, D]`."""
    rng = np.random.default_rng(seed)
    full = np.sin(np.arange(T)[None, :, None] / 2 + rng.normal(size=(n, 1, D))).astype("float32")
    holes = full.copy()
    holes[rng.random(full.shape) < rate] = np.nan
    return full, holes


def batch(holes: np.ndarray, full: np.ndarray | None = None) -> dict:
    X = torch.from_numpy(holes)
    inputs = {"X": X, "missing_mask": (~torch.isnan(X)).float()}
    if full is not None:
        inputs["X_ori"] = torch.from_numpy(full)
        inputs["indicating_mask"] = torch.isnan(X).float()
    return inputs


@pytest.mark.parametrize("backend", ["gpt2", "llama", "bert"])
def test_shapes_and_observed_values_kept_bit_for_bit(backend):
    full, holes = gappy()
    model = imputer(llm_backend=backend).model.eval()
    out = model(batch(holes))
    observed = ~np.isnan(holes)
    imputed = out["imputation"].detach().numpy()
    assert out["reconstruction"].shape == imputed.shape == (24, T, D)
    assert not np.isnan(imputed).any()
    assert np.array_equal(imputed[observed], holes[observed])          # bit for bit, not merely close


def test_mit_loss_reads_only_the_artificially_masked_entries():
    full, holes = gappy()
    model = imputer().model.train()
    first = model(batch(holes, full), calc_criterion=True)
    changed = full.copy()
    changed[~np.isnan(holes)] += 5.0                                   # outside the indicating mask
    second = model(batch(holes, changed), calc_criterion=True)
    torch.testing.assert_close(second["MIT_loss"], first["MIT_loss"])
    assert not torch.allclose(second["ORT_loss"], first["ORT_loss"])   # the observed part did see it
    assert first["loss"].item() == pytest.approx((first["MIT_loss"] + first["ORT_loss"]).item())


def test_gap_values_do_not_reach_the_model():
    full, holes = gappy()
    model = imputer().model.eval()
    other = np.where(np.isnan(holes), 1e6, holes).astype("float32")    # garbage where values are missing
    mask = (~np.isnan(holes)).astype("float32")
    a = model({"X": torch.from_numpy(np.nan_to_num(holes)), "missing_mask": torch.from_numpy(mask)})
    b = model({"X": torch.from_numpy(other), "missing_mask": torch.from_numpy(mask)})
    torch.testing.assert_close(a["reconstruction"], b["reconstruction"])


def test_fit_predict_save_load(tmp_path):
    full, holes = gappy(40)
    model = imputer()
    model.fit({"X": holes[:30]}, {"X": holes[30:], "X_ori": full[30:]})
    before = model.predict({"X": holes})["imputation"]
    model.save(str(tmp_path / "llm4imp.pypots"))
    assert (tmp_path / "llm4imp.pypots").stat().st_size < 2_000_000   # the frozen LLM is not saved
    again = imputer()
    again.load(str(tmp_path / "llm4imp.pypots"))
    np.testing.assert_array_equal(again.impute({"X": holes}), before)


def test_bad_input_is_one_clear_error():
    full, holes = gappy()
    model = imputer()
    with pytest.raises(UserError, match="must match"):
        model.model({"X": torch.zeros(2, T, D), "missing_mask": torch.ones(2, T, D + 1)})
    dead = holes.copy()
    dead[:, :, 1] = np.nan
    with pytest.raises(UserError, match="missing everywhere"):
        model.fit({"X": dead})
    with pytest.raises(UserError, match=r"\(0, 1\)"):
        imputer(mit_rate=1.0)


def test_prompt_text():
    x = torch.tensor([[1.0, 0.0, 0.0, 4.0, 2.0]])
    m = torch.tensor([[1.0, 0.0, 0.0, 1.0, 1.0]])
    assert longest_gaps(m) == [2]
    prompts = PromptBuilder("Toy data.", "stats")(x, m)
    assert prompts.shared == ("Dataset: Toy data. Task: fill in the missing values of a series of 5 steps from its "
                              "observed values.")
    assert prompts.rows == [" Missing: 40% of steps, longest gap 2 steps. Observed values: min 1.000, max 4.000, "
                            "median 2.000."]
    assert PromptBuilder("Toy data.", "none")(x, m) is None


def test_training_passes_go_through_the_progress_bars(monkeypatch):
    from model.llm4imp import model as llm4imp_model

    bars: list = []
    real = llm4imp_model.EpochBars
    monkeypatch.setattr(llm4imp_model, "EpochBars", lambda loader, desc: bars.append(real(loader, desc)) or bars[-1])
    _, holes = gappy()
    imputer(epochs=3).fit({"X": holes})
    assert len(bars) == 1 and bars[0].passes == 3 and len(bars[0]) == 3   # 24 windows in batches of 8
