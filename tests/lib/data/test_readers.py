"""Every reader on tiny fixtures written here, and on the real copies when present."""
from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lib.config import Config
from lib.data import list_entities, load_raw, prepare
from lib.errors import UserError
from tests.conftest import tiny_config

RNG = np.random.default_rng(0)


def _cfg(root: Path, data: str, entity: str = "", **kw) -> Config:
    return Config(data=data, entity=entity, data_root=str(root), window_size=4, n_pred=1, **kw)


def write_smd_txt(root: Path, name: str = "machine-1-1", n: int = 40, gz: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    train, test = RNG.random((n, 3)), RNG.random((n, 3))
    labels = np.zeros(n, dtype=int)
    labels[10:13] = 1   # the interpretation file below gives 10-13: end exclusive, as SMD's own files
    for sub, arr, fmt in (("train", train, "%.6f"), ("test", test, "%.6f"), ("test_label", labels, "%d")):
        (root / "SMD" / sub).mkdir(parents=True, exist_ok=True)
        path = root / "SMD" / sub / f"{name}.txt"
        np.savetxt(path, arr, delimiter=",", fmt=fmt)
        if gz:
            path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
            path.unlink()
    (root / "SMD" / "interpretation_label").mkdir(exist_ok=True)
    (root / "SMD" / "interpretation_label" / f"{name}.txt").write_text("10-13:1,3\n")
    return train, test, labels


def test_smd_text_and_gz(tmp_path):
    train, test, labels = write_smd_txt(tmp_path, "machine-1-1")
    write_smd_txt(tmp_path, "machine-2-1", gz=True)
    assert list_entities("SMD", str(tmp_path)) == ["machine-1-1", "machine-2-1"]
    raw = load_raw(_cfg(tmp_path, "SMD", "machine-1-1"))
    np.testing.assert_allclose(raw.train, train, atol=1e-6)
    np.testing.assert_array_equal(raw.labels, labels)
    assert raw.interpretation == [(10, 13, [0, 2])]
    assert load_raw(_cfg(tmp_path, "SMD", "machine-2-1")).test.shape == (40, 3)


class _Touch:
    """Unpickling this creates a file: what a crafted pickle could do."""
    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_smd_pickles_are_refused_unread(tmp_path):
    folder = tmp_path / "SMD"
    folder.mkdir()
    ran = tmp_path / "code-ran"
    for suffix in ("train", "test", "test_label"):
        (folder / f"machine-3-4_{suffix}.pkl").write_bytes(pickle.dumps(_Touch(ran)))
    with pytest.raises(UserError, match="found only machine-3-4_train.pkl: pickles are not read"):
        load_raw(_cfg(tmp_path, "SMD", "machine-3-4"))
    assert not ran.exists()


def write_telemanom(root: Path) -> None:
    folder = root / "SMAP_MSL"
    (folder / "train").mkdir(parents=True)
    (folder / "test").mkdir()
    rows = [("C-1", "MSL", "[[2, 4]]", 20), ("C-2", "MSL", "[[0, 0], [18, 19]]", 20), ("P-1", "SMAP", "[[5, 9]]", 20),
            ("P-1", "SMAP", "[[1, 1]]", 20)]  # a duplicate row, as P-2 upstream
    pd.DataFrame(rows, columns=["chan_id", "spacecraft", "anomaly_sequences", "num_values"]).to_csv(
        folder / "labeled_anomalies.csv", index=False)
    for chan, craft, _, n in rows:
        width = 4 if craft == "MSL" else 3
        np.save(folder / "train" / f"{chan}.npy", RNG.random((25, width)))
        np.save(folder / "test" / f"{chan}.npy", RNG.random((n, width)))


def test_msl_smap_channels_and_concatenation(tmp_path):
    write_telemanom(tmp_path)
    assert list_entities("MSL", str(tmp_path)) == ["C-1", "C-2"]
    one = load_raw(_cfg(tmp_path, "MSL", "C-1"))
    assert one.labels.tolist() == [0, 0, 1, 1, 1] + [0] * 15  # inclusive [2, 4]
    both = load_raw(_cfg(tmp_path, "MSL"))
    assert both.test.shape == (40, 4) and both.train.shape == (50, 4)
    assert both.labels[20] == 1 and both.labels[38:].tolist() == [1, 1]
    smap = load_raw(_cfg(tmp_path, "SMAP"))
    assert smap.labels.sum() == 5  # the first row of the duplicated channel is kept


def test_skab_runs(tmp_path):
    cols = ["datetime", "a", "b", "anomaly", "changepoint"]
    (tmp_path / "SKAB" / "anomaly-free").mkdir(parents=True)
    (tmp_path / "SKAB" / "valve1").mkdir()
    free = pd.DataFrame({"datetime": range(30), "a": RNG.random(30), "b": RNG.random(30)})
    free.to_csv(tmp_path / "SKAB" / "anomaly-free" / "anomaly-free.csv", sep=";", index=False)
    for i in range(2):
        run = pd.DataFrame({"datetime": range(20), "a": RNG.random(20), "b": RNG.random(20),
                            "anomaly": [0.0] * 10 + [1.0] * 10, "changepoint": 0.0})[cols]
        run.to_csv(tmp_path / "SKAB" / "valve1" / f"{i}.csv", sep=";", index=False)
    assert list_entities("SKAB", str(tmp_path)) == ["valve1/0", "valve1/1"]
    raw = load_raw(_cfg(tmp_path, "SKAB"))
    assert raw.train.shape == (30, 2) and raw.test.shape == (40, 2) and raw.labels.sum() == 20
    assert load_raw(_cfg(tmp_path, "SKAB", "valve1/1")).test.shape == (20, 2)


def test_psm_swat_generic(tmp_path):
    (tmp_path / "PSM").mkdir()
    pd.DataFrame({"timestamp_(min)": range(20), "x": RNG.random(20), "y": RNG.random(20)}).to_csv(tmp_path / "PSM" / "train.csv", index=False)
    pd.DataFrame({"timestamp_(min)": range(15), "x": RNG.random(15), "y": RNG.random(15)}).to_csv(tmp_path / "PSM" / "test.csv", index=False)
    pd.DataFrame({"timestamp_(min)": range(15), "label": [0] * 5 + [1] * 10}).to_csv(tmp_path / "PSM" / "test_label.csv", index=False)
    psm = load_raw(_cfg(tmp_path, "PSM"))
    assert psm.names == ["x", "y"] and psm.labels.sum() == 10

    (tmp_path / "SWaT").mkdir()
    pd.DataFrame({"s1": RNG.random(20), "s2": RNG.random(20), "label": 0}).to_csv(tmp_path / "SWaT" / "SWaT_train.csv", index=False)
    pd.DataFrame({"s1": RNG.random(12), "s2": RNG.random(12), "label": [0, 1] * 6}).to_csv(tmp_path / "SWaT" / "SWaT_test.csv", index=False)
    swat = load_raw(_cfg(tmp_path, "SWaT"))
    assert swat.train.shape == (20, 2) and swat.labels.tolist() == [0, 1] * 6

    gen = tmp_path / "mine"
    gen.mkdir()
    pd.DataFrame({"u": RNG.random(20), "v": RNG.random(20)}).to_csv(gen / "train.csv", index=False)
    pd.DataFrame({"u": RNG.random(10), "v": RNG.random(10), "label": [1] + [0] * 9}).to_csv(gen / "test.csv", index=False)
    raw = load_raw(_cfg(gen, "generic"))
    assert raw.names == ["u", "v"] and raw.labels[0] == 1

    npy = tmp_path / "npy"
    npy.mkdir()
    np.save(npy / "train.npy", RNG.random((20, 3)))
    np.save(npy / "test.npy", RNG.random((10, 3)))
    np.save(npy / "test_label.npy", np.arange(10) % 2)
    assert load_raw(_cfg(npy, "generic")).test.shape == (10, 3)


def test_synthetic_is_deterministic_by_seed(tmp_path):
    a, b = load_raw(tiny_config(tmp_path, seed=1)), load_raw(tiny_config(tmp_path, seed=1))
    c = load_raw(tiny_config(tmp_path, seed=2))
    np.testing.assert_array_equal(a.test, b.test)
    assert not np.array_equal(a.test, c.test)
    assert 0 < a.labels.mean() < 0.2


def test_synthetic_segments_cover_the_labels_and_carry_reasoning_kinds(tmp_path):
    from lib.data.reasoning import KINDS

    raw = load_raw(tiny_config(tmp_path, seed=1))
    covered = np.zeros_like(raw.labels)
    for start, end, features in raw.interpretation:
        covered[start:end] += 1
        assert len(features) == 1 and 0 <= features[0] < raw.test.shape[1]
    np.testing.assert_array_equal(covered, raw.labels)   # every labelled step once, nothing else
    assert len(raw.kinds) == len(raw.interpretation) and set(raw.kinds) <= set(KINDS) | {""}
    assert prepare(tiny_config(tmp_path, seed=1)).kinds == raw.kinds


def test_scaling_is_fitted_on_train_only(tmp_path):
    write_smd_txt(tmp_path)
    cfg = _cfg(tmp_path, "SMD", "machine-1-1", val_ratio=0.25)
    raw = load_raw(cfg)
    prep = prepare(cfg)
    full_train = np.concatenate([prep.train[:, :, 0].numpy(), prep.val[:, :, 0].numpy()])
    np.testing.assert_allclose(full_train.min(0), 0, atol=1e-6)
    np.testing.assert_allclose(full_train.max(0), 1, atol=1e-6)
    # STAMP applies the train-fitted scaler to test as it is; --clip_test True clips to [0, 1]
    expected = (raw.test - raw.train.min(0)) / np.ptp(raw.train, 0)
    assert expected.min() < 0 or expected.max() > 1
    np.testing.assert_allclose(prep.test[:, :, 0].numpy(), expected, atol=1e-6)
    clipped = prepare(_cfg(tmp_path, "SMD", "machine-1-1", val_ratio=0.25, clip_test=True))
    np.testing.assert_allclose(clipped.test[:, :, 0].numpy(), np.clip(expected, 0, 1), atol=1e-6)
    assert prep.train.shape[0] == 30 and prep.val.shape[0] == 10  # chronological 75 / 25
    np.testing.assert_array_equal(prep.test_labels_orig, raw.labels)


# ---- the real copies -------------------------------------------------------------
@pytest.mark.shared_data
def test_real_smd(real_root):
    raw = load_raw(Config(data="SMD", entity="machine-1-2", data_root=str(real_root)))
    assert raw.train.shape == (23694, 38) and raw.test.shape == (23694, 38)
    assert raw.labels.sum() == 542 and len(raw.interpretation) == 10
    assert len(list_entities("SMD", str(real_root))) == 19
    assert_interpretation_is_end_exclusive(raw)


def assert_interpretation_is_end_exclusive(raw) -> None:
    """Every interpretation range (start, end) covers labelled steps start..end-1 and no more:
    `labels[end - 1]` is anomalous, `labels[end]` is not."""
    for start, end, _ in raw.interpretation:
        assert raw.labels[start:end].all() and raw.labels[end] == 0 and raw.labels[end - 1] == 1


def test_smd_interpretation_ranges_are_end_exclusive(tmp_path):
    """The tiny fixture follows the files' convention; the real-data test checks machine-1-2's."""
    write_smd_txt(tmp_path, "machine-1-1")
    assert_interpretation_is_end_exclusive(load_raw(_cfg(tmp_path, "SMD", "machine-1-1")))


@pytest.mark.shared_data
def test_real_msl_smap_skab(real_root):
    msl = load_raw(Config(data="MSL", data_root=str(real_root)))
    assert msl.test.shape == (73729, 55) and msl.labels.sum() == 7766
    assert len(list_entities("SMAP", str(real_root))) == 54
    skab = load_raw(Config(data="SKAB", data_root=str(real_root)))
    assert skab.test.shape == (37401, 8) and skab.labels.sum() == 13067 and skab.train.shape == (9405, 8)
