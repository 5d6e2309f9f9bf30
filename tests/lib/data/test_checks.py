"""Every bad input gives one clear error naming the file and the problem."""
from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from lib.config import Config
from lib.data import load_raw, prepare
from lib.errors import UserError
from tests.conftest import REPO


def generic(tmp_path, train: pd.DataFrame, test: pd.DataFrame, **kw) -> Config:
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    return Config(data="generic", data_root=str(tmp_path), window_size=4, n_pred=1, **kw)


def frame(n: int, cols=("a", "b"), label: bool = False, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({c: rng.random(n) for c in cols})
    if label:
        df["label"] = 0
    return df


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match=r"file not found: .*train\.csv"):
        load_raw(Config(data="generic", data_root=str(tmp_path)))


def test_missing_dataset_folder(tmp_path):
    with pytest.raises(UserError, match="dataset SMD: no folder found"):
        load_raw(Config(data="SMD", entity="machine-1-1", data_root=str(tmp_path)))


def test_empty_file(tmp_path):
    (tmp_path / "train.csv").write_text("")
    frame(10, label=True).to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(UserError, match=r"train\.csv: file is empty"):
        load_raw(Config(data="generic", data_root=str(tmp_path)))


def test_wrong_delimiter(tmp_path):
    frame(10).to_csv(tmp_path / "train.csv", index=False, sep=";")
    frame(10, label=True).to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(UserError, match=r"train\.csv: wrong delimiter.*semicolon"):
        load_raw(Config(data="generic", data_root=str(tmp_path)))


def test_nan_refused_or_filled_with_count(tmp_path, caplog):
    train = frame(20)
    train.iloc[3, 0] = np.nan
    train.iloc[5, 1] = np.inf
    cfg = generic(tmp_path, train, frame(10, label=True))
    with pytest.raises(UserError, match="2 NaN/inf values"):
        load_raw(cfg)
    with caplog.at_level(logging.WARNING, logger="llm_tsad"):
        raw = load_raw(cfg.replace(nan_policy="fill"))
    assert np.isfinite(raw.train).all() and raw.train[3, 0] == raw.train[2, 0]
    assert "filled 2 NaN/inf values" in caplog.text


def test_feature_count_mismatch(tmp_path):
    cfg = generic(tmp_path, frame(20, cols=("a", "b", "c")), frame(10, label=True))
    with pytest.raises(UserError, match=r"test\.csv: its columns do not match.*only in train: c; only in test: -"):
        load_raw(cfg)


def test_reordered_test_columns_are_realigned_by_name(tmp_path, caplog):
    train, test = frame(20, cols=("a0", "a1", "a2")), frame(10, cols=("a0", "a1", "a2"), label=True, seed=1)
    cfg = generic(tmp_path, train, test[["a2", "a1", "a0", "label"]])
    with caplog.at_level(logging.WARNING, logger="llm_tsad"):
        raw = load_raw(cfg)
    assert raw.names == ["a0", "a1", "a2"]
    np.testing.assert_allclose(raw.test, test[["a0", "a1", "a2"]].to_numpy())
    assert "realigned by name" in caplog.text


def test_other_column_names_are_an_error_listing_them(tmp_path):
    cfg = generic(tmp_path, frame(20, cols=("a", "b")), frame(10, cols=("a", "x"), label=True))
    with pytest.raises(UserError, match="only in train: b; only in test: x"):
        load_raw(cfg)


def test_missing_label_column(tmp_path):
    cfg = generic(tmp_path, frame(20), frame(10))
    with pytest.raises(UserError, match=r"test\.csv: missing label column 'label'"):
        load_raw(cfg)


def test_nnodes_mismatch(tmp_path):
    cfg = generic(tmp_path, frame(20), frame(10, label=True), nnodes=5)
    with pytest.raises(UserError, match="--nnodes 5 but the data has 2 features"):
        prepare(cfg)


def test_constant_column_warns_and_scales_to_zero(tmp_path, caplog):
    train = frame(20)
    train["a"] = 3.0
    cfg = generic(tmp_path, train, frame(10, label=True))
    with caplog.at_level(logging.WARNING, logger="llm_tsad"):
        prep = prepare(cfg)
    assert "1 constant train column(s) (a)" in caplog.text
    assert np.isfinite(prep.test.numpy()).all() and np.isfinite(prep.train.numpy()).all()
    assert (prep.train[:, 0, 0] == 0).all()


def test_too_short_for_window(tmp_path):
    cfg = generic(tmp_path, frame(6), frame(10, label=True))
    with pytest.raises(UserError, match="fewer than --window_size 4"):
        prepare(cfg)


def test_cli_prints_one_line_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "run.py", "--data", "generic", "--data_root", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: file not found") and "Traceback" not in proc.stderr
