"""run.py and test.py end to end, as a user calls them."""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import random
import subprocess
import sys
import traceback

import numpy as np
import pytest
import torch

from tests.conftest import REPO

TINY_MODEL = ["--window_size", "8", "--n_pred", "2", "--d_model", "8", "--em_dim", "4", "--top_k", "2",
        "--embed_size", "16", "--num_heads", "2", "--ffwd_size", "16", "--epochs", "2"]
TINY = ["--data", "synthetic", "--syn_features", "3", "--syn_train_len", "600", "--syn_test_len", "400", *TINY_MODEL]


# The top-level CLIs run inside the test process: a fresh interpreter would pay torch's and
# transformers' imports (seconds) on every call. The scripts under scripts/ still run as processes.
IN_PROCESS = ("run.py", "test.py", "reason.py", "impute.py", "forecast.py")


def cli(script: str, *args: str) -> subprocess.CompletedProcess:
    """`python script args` from the repository root, as a user runs it: exit status, stdout, stderr."""
    if script not in IN_PROCESS:
        return subprocess.run([sys.executable, script, *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    return run_main(script, list(args))


class CapturedStream(io.StringIO):
    encoding = "utf-8"   # what a terminal's stream says; some packages read it at import

    def isatty(self) -> bool:
        return False


def run_main(script: str, args: list[str]) -> subprocess.CompletedProcess:
    """`script`'s main() in this process, its output captured and its global state put back: the
    exit status a process would return (1 and the traceback on stderr for an uncaught exception)."""
    out, err = CapturedStream(), CapturedStream()
    saved = (sys.argv, os.getcwd(), torch.get_num_threads(), torch.random.get_rng_state(), np.random.get_state(),
             random.getstate())
    log = logging.getLogger("llm_tsad")
    handlers, level, propagate = list(log.handlers), log.level, log.propagate
    code = 0
    try:
        os.chdir(REPO)
        sys.argv = [script, *args]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                importlib.import_module(script.removesuffix(".py")).main()
            except SystemExit as stop:
                if isinstance(stop.code, str):
                    print(stop.code, file=sys.stderr)
                code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
            except Exception:   # a process would die with the traceback
                traceback.print_exc()
                code = 1
    finally:
        for handler in [h for h in log.handlers if h not in handlers]:   # the run's file and stream handlers
            log.removeHandler(handler)
            handler.close()
        for handler in [h for h in handlers if h not in log.handlers]:
            log.addHandler(handler)
        log.setLevel(level)
        log.propagate = propagate   # setup_logging turns it off; caplog needs it
        sys.argv = saved[0]
        os.chdir(saved[1])
        torch.set_num_threads(saved[2])
        torch.random.set_rng_state(saved[3])
        np.random.set_state(saved[4])
        random.setstate(saved[5])
    return subprocess.CompletedProcess([script, *args], code, out.getvalue(), err.getvalue())


def test_train_then_score(tmp_path):
    expe = ["--expe_dir", str(tmp_path)]
    trained = cli("run.py", *TINY, *expe)
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "pth" / "best_model_synthetic_gat_ae.pth").is_file()
    assert "epoch 2:" in (tmp_path / "log" / "synthetic_gat_ae.log").read_text()

    scored = cli("test.py", "--data", "synthetic", "--test_alpha", "1", "--baselines", "--explain", "2", *expe)
    assert scored.returncode == 0, scored.stderr
    assert "precision" in scored.stdout and "synthetic" in scored.stdout
    assert all(f"baseline {b}" in scored.stdout for b in ("random", "pca", "iforest"))
    result = json.loads((tmp_path / "results" / "synthetic_gat_ae.json").read_text())
    assert result["config"]["window_size"] == 8 and result["config"]["test_alpha"] == 1.0
    assert 0 <= result["metrics"]["f1"] <= 1 and set(result["by_score_agg"]) == {"max", "sum", "mean"}
    assert result["seed"] == 666 and result["git_commit"]
    assert set(result["test_errors"]) == {"pred_mae", "recon_mae", "adv_mae"}
    extra = result["beyond_pa"]
    assert len(extra["pa_k"]["f1"]) == 101 and extra["pa_k"]["f1"][0] >= extra["pa_k"]["f1"][100]
    assert 0 < extra["no_pa"]["f1"] <= 1 and extra["no_pa"]["rule"] == ">=" and 0 < extra["auc_pr"] <= 1
    assert 0 < extra["vus_pr"] <= 1 and extra["vus_window"] > 0 and 0 < extra["affiliation"]["f1"] <= 1
    assert set(result["baselines"]) == {"random", "pca", "iforest"}
    alarms = result["root_cause"]["alarms"]
    assert alarms and all(len(a["top_features"]) == 2 and a["branch"] in ("pred", "recon", "adv") for a in alarms)
    assert all(0 <= b["metrics"]["f1"] <= 1 for b in result["baselines"].values())
    pot = result["label_free"]["pot"]
    assert pot["no_pa"]["f1"] <= pot["pa"]["f1"] and pot["threshold"] == pot["pa"]["threshold"]
    # POT calibrates on every consecutive validation window (600 * 0.2 = 120 steps: 113 windows)
    assert pot["method"] in ("pot", "quantile (fallback)") and pot["n_calibration"] == 113
    assert result["data"]["calibration_windows"] == 113 and result["metrics"]["labels"] == "window"
    scores = np.load(tmp_path / "results" / "synthetic_gat_ae.npz")
    T = result["data"]["test_steps"]
    assert scores["score"].shape == scores["label"].shape == scores["free_score"].shape == (T,)
    assert scores["feature_combined"].shape == (T, 3) and scores["window_score"].shape == (T - 7,)
    assert int(scores["vus_window"]) == extra["vus_window"] and float(scores["threshold_pot"]) == pot["threshold"]
    assert all(0 < v < 1 for v in result["test_errors"].values())  # scaled data, trained branches
    assert (tmp_path / "results" / "synthetic_gat_ae.png").stat().st_size > 1000

    clash = cli("test.py", "--data", "synthetic", "--window_size", "12", *expe)
    assert clash.returncode == 2 and "trained with --window_size 8, not 12" in clash.stderr
    missing = cli("test.py", "--data", "synthetic", "--recon_model", "mamba", *expe)
    assert missing.returncode == 2 and "no checkpoint at" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.parametrize("script", ["run.py", "test.py", "impute.py"])
def test_help_lists_every_flag(script):
    """--help renders (a literal % in a help text once broke argparse's formatting)."""
    out = cli(script, "--help")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr[-300:]
    assert all(flag in out.stdout for flag in ("--data", "--missing_rate", "--imp_series", "--llm_layers"))


def test_list_data():
    out = cli("run.py", "--list_data")
    assert out.returncode == 0
    for name in ("SMD", "MSL", "SMAP", "SKAB", "PSM", "SWaT", "WADI", "generic", "synthetic"):
        assert name in out.stdout


def test_entity_all_trains_and_scores_every_machine(tmp_path):
    from tests.lib.data.test_readers import write_smd_txt

    for name in ("machine-1-1", "machine-1-2"):
        write_smd_txt(tmp_path / "data", name, n=60)
    flags = ["--data", "SMD", "--entity", "all", "--data_root", str(tmp_path / "data"), "--expe_dir", str(tmp_path)]
    trained = cli("run.py", *flags, *TINY_MODEL)
    assert trained.returncode == 0, trained.stderr
    assert sorted(p.name for p in (tmp_path / "pth").glob("best_*")) == [
        "best_model_SMD_machine-1-1_gat_ae.pth", "best_model_SMD_machine-1-2_gat_ae.pth"]
    scored = cli("test.py", *flags)
    assert scored.returncode == 0, scored.stderr
    assert "SMD_machine-1-1" in scored.stdout and "mean of 2" in scored.stdout


TINY_LLM = ["--pred_model", "llm", "--llm_model", "tiny", "--llm_layers", "2", "--epochs", "1",
            "--llm_prompt_mode", "stats_short"]


def test_llm_branch_with_mamba_and_ae_through_test_py(tmp_path):
    expe = ["--expe_dir", str(tmp_path)]
    for recon in ("mamba", "ae"):
        flags = [*TINY, *TINY_LLM, "--recon_model", recon, "--mamba_d_model", "8", "--mamba_layers", "1"]
        trained = cli("run.py", *flags, *expe)
        assert trained.returncode == 0, trained.stderr
        ckpt = tmp_path / "pth" / f"best_model_synthetic_llm_{recon}.pth"
        assert ckpt.stat().st_size < 2_000_000  # the frozen LLM is not in it
        scored = cli("test.py", "--data", "synthetic", "--pred_model", "llm", "--recon_model", recon, *expe)
        assert scored.returncode == 0, scored.stderr
        result = json.loads((tmp_path / "results" / f"synthetic_llm_{recon}.json").read_text())
        assert result["config"]["llm_prompt_mode"] == "stats_short" and 0 <= result["metrics"]["f1"] <= 1


def test_unreachable_llm_is_a_one_line_error(tmp_path):
    import os

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "run.py", *TINY, "--pred_model", "llm", "--llm_backend", "gpt2",
                          "--llm_model", "no-such-org/no-such-model", "--expe_dir", str(tmp_path)],
                         cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "cannot load LLM 'no-such-org/no-such-model'" in out.stderr and "bundled SmolLM2" in out.stderr
