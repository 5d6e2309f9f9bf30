"""impute.py end to end, as a user calls it."""
from __future__ import annotations

import json

from tests.test_cli import cli

SMALL = ["--data", "synthetic", "--syn_features", "3", "--syn_train_len", "960", "--syn_test_len", "480",
         "--imp_steps", "24", "--missing_rate", "0.2"]


def test_classical_imputer_writes_json_and_png(tmp_path):
    done = cli("impute.py", *SMALL, "--model", "linear", "--missing_pattern", "block", "--expe_dir", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "results" / "imputation" / "synthetic_linear_block0.2_seed666.json"
    r = json.loads(out.read_text())
    assert 0 < r["metrics"]["mae"] < 1 and r["metrics"]["mse"] > 0 and r["data"]["scored_values"] > 0
    assert r["config"]["missing_pattern"] == "block" and out.with_suffix(".png").is_file()


def test_llm4imp_trains_and_beats_the_mean(tmp_path):
    expe = ["--expe_dir", str(tmp_path)]
    tiny = ["--llm_model", "tiny", "--llm_layers", "2", "--epochs", "3", "--batch_size", "8", "--dropout", "0"]
    for model in ("mean", "llm4imp"):
        done = cli("impute.py", *SMALL, "--model", model, *(tiny if model == "llm4imp" else []), *expe)
        assert done.returncode == 0, done.stderr[-2000:]
    mae = {m: json.loads((tmp_path / "results" / "imputation" / f"synthetic_{m}_point0.2_seed666.json").read_text())
           ["metrics"]["mae"] for m in ("mean", "llm4imp")}
    assert mae["llm4imp"] < mae["mean"]


def test_bad_rate_is_one_line(tmp_path):
    done = cli("impute.py", *SMALL, "--missing_rate", "1.5", "--model", "mean", "--expe_dir", str(tmp_path))
    assert done.returncode == 2 and done.stderr.strip().startswith("error: --missing_rate must lie in (0, 1)")
    assert len(done.stderr.strip().splitlines()) == 1


def gappy_generic(tmp_path):
    """The project's synthetic series as a generic CSV dataset, with 5 % of values and a block removed."""
    import numpy as np
    import pandas as pd

    from lib.data.synthetic import make_synthetic

    d = make_synthetic(3, 600, 400, seed=1)
    rng = np.random.default_rng(0)
    train, test = d["train"].copy(), d["test"].copy()
    for part in (train, test):
        part[rng.random(part.shape) < 0.05] = np.nan
    train[100:130, 1] = np.nan
    folder = tmp_path / "gappy"
    folder.mkdir()
    pd.DataFrame(train, columns=["a", "b", "c"]).to_csv(folder / "train.csv", index=False)
    pd.DataFrame({**dict(zip("abc", test.T)), "label": d["labels"]}).to_csv(folder / "test.csv", index=False)
    return folder, int(np.isnan(train).sum() + np.isnan(test).sum())


def test_detection_with_imputed_gaps(tmp_path):
    from tests.test_cli import TINY_MODEL

    from lib.config import Config

    folder, n_missing = gappy_generic(tmp_path)
    tag = Config(data="generic", data_root=str(folder)).data_tag
    data = ["--data", "generic", "--data_root", str(folder), *TINY_MODEL, "--epochs", "1"]
    refused = cli("run.py", *data, "--expe_dir", str(tmp_path / "none"))
    assert refused.returncode == 2 and "NaN/inf" in refused.stderr
    for method, extra in (("linear", []), ("llm4imp", ["--llm_model", "tiny", "--llm_layers", "2", "--imp_steps", "24"])):
        expe = ["--expe_dir", str(tmp_path / method)]
        trained = cli("run.py", *data, "--impute", method, *extra, *expe)
        assert trained.returncode == 0, trained.stderr[-2000:]
        assert f"filled {n_missing} missing values" in trained.stderr
        scored = cli("test.py", "--data", "generic", "--data_root", str(folder), *expe)
        assert scored.returncode == 0, scored.stderr[-2000:]
        result = json.loads((tmp_path / method / "results" / f"{tag}_gat_ae.json").read_text())
        assert result["data"]["impute"] == method and result["data"]["filled_values"] == n_missing
    assert (tmp_path / "llm4imp" / "pth" / f"imputer_{tag}_gat_ae.pypots").is_file()
    # the robustness experiment: more gaps made in the test series at scoring time, filled the same way
    expe = ["--expe_dir", str(tmp_path / "linear")]
    scored = cli("test.py", "--data", "generic", "--data_root", str(folder), "--test_missing_rate", "0.2",
                 "--test_missing_pattern", "block", "--imp_steps", "24", *expe)
    assert "--imp_steps" in scored.stderr                                   # a training flag: refused, one line
    scored = cli("test.py", "--data", "generic", "--data_root", str(folder), "--test_missing_rate", "0.2",
                 "--test_missing_pattern", "block", *expe)
    assert scored.returncode == 0, scored.stderr[-2000:]
    result = json.loads((tmp_path / "linear" / "results" / f"{tag}_gat_ae.json").read_text())
    assert result["data"]["filled_values"] > n_missing + 0.15 * 400 * 3
