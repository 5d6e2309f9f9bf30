"""The data-processing scripts on tiny iTrust-like and telemanom-like fixtures."""
from __future__ import annotations

import numpy as np
import pandas as pd

from lib.config import Config
from lib.data import load_raw
from tests.conftest import REPO
from tests.lib.data.test_readers import write_telemanom
from tests.test_cli import cli


def test_process_swat(tmp_path):
    normal = pd.DataFrame({" Timestamp": ["t"] * 12, "FIT101": np.arange(12.0), "LIT101": 1.0, "Normal/Attack": "Normal"})
    attack = pd.DataFrame({" Timestamp": ["t"] * 8, "FIT101": np.arange(8.0), "LIT101": 2.0,
                           "Normal/Attack": ["Normal", "Attack", "A ttack", "Normal"] * 2})
    normal.to_csv(tmp_path / "n.csv", index=False)
    attack.to_csv(tmp_path / "a.csv", index=False)
    out = cli("scripts/process_swat.py", "--normal", str(tmp_path / "n.csv"), "--attack", str(tmp_path / "a.csv"),
              "--out", str(tmp_path / "SWaT"))
    assert out.returncode == 0, out.stderr
    raw = load_raw(Config(data="SWaT", data_root=str(tmp_path)))
    assert raw.names == ["FIT101", "LIT101"] and raw.labels.tolist() == [0, 1, 1, 0] * 2


def test_process_wadi(tmp_path):
    cols = "Row,Date,Time,S1,S2,EMPTY"
    normal = "\n".join([cols] + [f"{i},d,t,{i},{2 * i}," for i in range(10)])
    attack = "\n".join(["meta line", cols + ",Attack LABLE (1:No Attack, -1:Attack)"] +
                       [f"{i},d,t,{i},{i},,{-1 if i in (2, 3) else 1}" for i in range(6)])
    (tmp_path / "n.csv").write_text(normal)
    (tmp_path / "a.csv").write_text(attack)
    out = cli("scripts/process_wadi.py", "--normal", str(tmp_path / "n.csv"), "--attack", str(tmp_path / "a.csv"),
              "--out", str(tmp_path / "WADI"))
    assert out.returncode == 0, out.stderr
    raw = load_raw(Config(data="WADI", data_root=str(tmp_path)))
    assert raw.names == ["S1", "S2"] and raw.labels.tolist() == [0, 0, 1, 1, 0, 0]


def test_process_msl_smap(tmp_path):
    write_telemanom(tmp_path)
    out = cli("scripts/process_msl_smap.py", "--data_root", str(tmp_path), "--spacecraft", "MSL", "--out", str(tmp_path / "flat"))
    assert out.returncode == 0, out.stderr
    flat = load_raw(Config(data="generic", data_root=str(tmp_path / "flat")))
    direct = load_raw(Config(data="MSL", data_root=str(tmp_path)))
    np.testing.assert_array_equal(flat.test, direct.test)
    np.testing.assert_array_equal(flat.labels, direct.labels)
