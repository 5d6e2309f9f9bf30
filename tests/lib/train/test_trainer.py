"""The adversarial training loop: learning, model selection, resume, seeds."""
from __future__ import annotations

from pathlib import Path

import torch

from lib.train.checkpoint import load

from lib.runfiles import run_paths
from lib.data import prepare
from lib.train.trainer import Trainer, schedule
from lib.utils import seed_everything
from model.registry import build_models
from tests.conftest import tiny_config


def train(cfg):
    seed_everything(cfg.seed)
    data = prepare(cfg)
    pred, recon = build_models(cfg, data.n_features, torch.device("cpu"))
    trainer = Trainer(cfg, pred, recon, data, torch.device("cpu"), run_paths(cfg))
    return trainer.train(), trainer


def test_schedule():
    cfg = tiny_config(Path("unused"))
    assert schedule(1, cfg) == (5.0, 3.0, 0.0)
    assert schedule(4, cfg) == (1.25, 0.75, 0.75)


def test_short_run_lowers_both_losses(tmp_path):
    state, _ = train(tiny_config(tmp_path, epochs=4, syn_train_len=1500, ae_lr=3e-3))
    first, last = state.history[0], state.history[-1]
    assert last["train_pred"] < first["train_pred"] and last["train_recon"] < first["train_recon"]
    assert last["val_pred"] < first["val_pred"] and last["val_recon"] < first["val_recon"]
    ckpt = load(run_paths(tiny_config(tmp_path))["best"])
    assert ckpt["epoch"] == state.best_epoch and ckpt["config"]["window_size"] == 8


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    full_cfg = tiny_config(tmp_path / "a", epochs=3, dropout=0.2)
    train(full_cfg)
    part_cfg = tiny_config(tmp_path / "b", epochs=1, dropout=0.2)
    train(part_cfg)                                      # "killed" after epoch 1
    state, _ = train(part_cfg.replace(epochs=3, resume=True))
    assert [h["epoch"] for h in state.history] == [1, 2, 3]
    for which in ("best", "last"):
        a, b = load(run_paths(full_cfg)[which]), load(run_paths(part_cfg)[which])
        assert a["epoch"] == b["epoch"]
        for branch in ("pred", "recon"):
            for k, v in a[branch].items():
                torch.testing.assert_close(v, b[branch][k], atol=0, rtol=0, msg=f"{which} {branch} {k}")


def test_resume_refuses_other_settings(tmp_path):
    import pytest
    from lib.errors import UserError

    train(tiny_config(tmp_path, epochs=1))
    with pytest.raises(UserError, match="trained with other settings"):
        train(tiny_config(tmp_path, epochs=2, resume=True, window_size=10))


def test_early_stopping(tmp_path):
    state, _ = train(tiny_config(tmp_path, epochs=10, patience=1, pred_lr=0.0, ae_lr=0.0))
    assert state.epoch == 2 and state.best_epoch == 1


def test_same_seed_same_model(tmp_path):
    train(tiny_config(tmp_path / "a", epochs=1))
    train(tiny_config(tmp_path / "b", epochs=1))
    a, b = load(run_paths(tiny_config(tmp_path / "a"))["best"]), load(run_paths(tiny_config(tmp_path / "b"))["best"])
    for k, v in a["pred"].items():
        torch.testing.assert_close(v, b["pred"][k], atol=0, rtol=0)


def test_commit_stamp_is_dirty_for_code_changes_only(tmp_path):
    import subprocess

    from lib.train.checkpoint import _read_git_commit

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    for folder in ("docs", "lib", "tests", "expe/results/bench"):
        (tmp_path / folder).mkdir(parents=True)
    for name in ("docs/RESULTS.md", "README.md", "lib/code.py", "tests/test_code.py", "expe/results/bench/cell.json"):
        (tmp_path / name).write_text("x\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "first")
    clean = _read_git_commit(tmp_path / "lib")
    assert len(clean) == 40 and "+dirty" not in clean
    (tmp_path / "docs" / "RESULTS.md").write_text("a rewritten table\n")
    (tmp_path / "README.md").write_text("a rewritten headline\n")
    (tmp_path / "tests" / "test_code.py").write_text("a new test\n")
    (tmp_path / "expe" / "results" / "bench" / "cell.json").unlink()   # a cell moved aside to be rerun
    assert _read_git_commit(tmp_path / "lib") == clean
    (tmp_path / "lib" / "code.py").write_text("y\n")
    assert _read_git_commit(tmp_path / "lib") == clean + "+dirty"


def test_resume_from_a_moved_and_respelled_expe_dir(tmp_path):
    import shutil

    train(tiny_config(tmp_path / "a", epochs=1))
    shutil.move(tmp_path / "a", tmp_path / "b")
    cfg = tiny_config(tmp_path / "b", epochs=2, resume=True)
    state, _ = train(cfg.replace(expe_dir=f"{tmp_path}/b/./expe/"))
    assert [h["epoch"] for h in state.history] == [1, 2]


def test_non_finite_validation_loss_stops_and_keeps_earlier_checkpoints(tmp_path, monkeypatch):
    import pytest
    from lib.errors import UserError

    cfg = tiny_config(tmp_path, epochs=1)
    train(cfg)
    before = {k: run_paths(cfg)[k].read_bytes() for k in ("best", "last")}
    monkeypatch.setattr(Trainer, "validation_losses", lambda self, series: {"pred": float("nan"), "recon": 0.0,
                                                                           "adv": 0.0})
    with pytest.raises(UserError, match="epoch 1: the validation loss is not finite; stopped without saving"):
        train(cfg)
    assert {k: run_paths(cfg)[k].read_bytes() for k in ("best", "last")} == before
