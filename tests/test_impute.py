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
