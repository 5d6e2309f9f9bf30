"""Bad input ends in one line and exit status 2, never a traceback, and loses nothing.

The corpus (tests/fixtures/bad_inputs/, written by scripts/make_bad_inputs.py) runs through
run.py in this process; one case also runs as a real subprocess. Then: a crafted checkpoint,
two processes on one run path, generic datasets' run paths, an unreadable file.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lib.train.checkpoint import load

from lib.runfiles import run_paths
from lib.config import Config
from lib.data import load_raw
from lib.errors import UserError
from lib.runfiles import run_lock
from scripts.make_bad_inputs import CORPUS, write_corpus
from tests.conftest import REPO

CASES = json.loads((CORPUS / "cases.json").read_text())
TINY = ["--window_size", "8", "--n_pred", "2", "--d_model", "8", "--em_dim", "4", "--top_k", "2", "--layer_num", "1",
        "--epochs", "1", "--batch_size", "32"]


def run_in_process(module: str, argv: list[str]) -> tuple[int, list[str]]:
    """`python <module>.py argv` in this process: its exit status and its non-empty output lines."""
    from tests.test_cli import run_main

    done = run_main(f"{module}.py", argv)
    return done.returncode, [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_corpus_is_what_the_script_writes(tmp_path):
    write_corpus(tmp_path / "corpus")
    assert listing(tmp_path / "corpus") == listing(CORPUS)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_exit_2(case, tmp_path):
    folder = CORPUS / case
    before = listing(folder)
    args = [a.replace("{case}", str(folder)) for a in CASES[case]["args"]]
    argv = ["--data", "generic", "--data_root", str(folder), "--expe_dir", str(tmp_path / "expe"), *TINY, *args]
    code, lines = run_in_process("run", argv)
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert re.search(CASES[case]["error"], lines[0]), lines[0]
    assert listing(folder) == before          # nothing written beside the data
    assert not (tmp_path / "expe" / "pth").exists() or not any((tmp_path / "expe" / "pth").iterdir())


def test_a_real_process_prints_one_line_and_no_traceback(tmp_path):
    folder = CORPUS / "label_text"
    proc = subprocess.run([sys.executable, "run.py", "--data", "generic", "--data_root", str(folder),
                           "--expe_dir", str(tmp_path / "expe"), *TINY], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.strip()] == [proc.stderr.strip()]


class _Touch:
    """Unpickling this creates a file: what a crafted checkpoint could do."""
    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_a_crafted_checkpoint_is_refused_before_it_runs(tmp_path):
    ran = tmp_path / "code-ran"
    crafted = tmp_path / "crafted.pth"
    torch.save({"config": {}, "format_version": 1, "payload": _Touch(ran)}, crafted)
    with pytest.raises(UserError, match="refused: the file asks to run code or build objects"):
        load(crafted)
    code, lines = run_in_process("test", ["--checkpoint", str(crafted), "--expe_dir", str(tmp_path / "expe")])
    assert code == 2 and len(lines) == 1 and "refused" in lines[0]
    assert not ran.exists()


def test_a_checkpoint_of_this_project_loads_with_weights_only(tmp_path):
    """The trainer's checkpoints (numpy scaler, RNG states) pass the restricted loader."""
    from tests.lib.train.test_trainer import train
    from tests.conftest import tiny_config

    cfg = tiny_config(tmp_path, epochs=1)
    train(cfg)
    assert load(run_paths(cfg)["last"])["rng"]["numpy"][0] == "MT19937"


def test_two_processes_on_one_run_path(tmp_path):
    """The second is refused in one line naming the first; the first finishes and frees the lock."""
    common = [sys.executable, "run.py", "--data", "synthetic", "--syn_features", "3", "--expe_dir",
              str(tmp_path / "expe"), *TINY[:-4]]
    # SIGINT at its default in the child: a suite started in the background inherits it ignored
    first = subprocess.Popen([*common, "--epochs", "500", "--patience", "0", "--batch_size", "32"], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lock = run_paths(Config(data="synthetic", expe_dir=str(tmp_path / "expe")))["lock"]
    try:
        deadline = time.time() + 120
        while not lock.exists() and time.time() < deadline and first.poll() is None:
            time.sleep(0.2)
        assert lock.exists(), "the first run never took its lock"
        second = subprocess.run([*common, "--epochs", "1"], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert f"another run writes these files (pid {first.pid} " in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        first.send_signal(signal.SIGINT)
        try:
            first.wait(timeout=120)
        except subprocess.TimeoutExpired:
            first.kill()   # never leave a 500-epoch run behind
            raise
    assert first.returncode == 130 and not lock.exists()


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path, caplog):
    lock = tmp_path / "run.lock"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock.write_text(f"{dead.stdout.strip()}\t{os.uname().nodename}\t2026-01-01 00:00:00\trun.py")
    with run_lock(lock):
        assert lock.read_text().startswith(f"{os.getpid()}\t")
    assert not lock.exists() and "no longer runs" in caplog.text


def test_generic_datasets_in_other_folders_get_other_run_paths(tmp_path):
    a, b = (Config(data="generic", data_root=str(tmp_path / name / "data")) for name in ("a", "b"))
    assert run_paths(a)["best"] != run_paths(b)["best"]
    assert a.data_tag.startswith("generic-data-")
    respelled = Config(data="generic", data_root=f"{tmp_path}/a/./data/")
    assert respelled.data_tag == a.data_tag


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    write_corpus(tmp_path / "corpus")
    folder = tmp_path / "corpus" / "weight_negative"
    (folder / "train.csv").chmod(0)
    with pytest.raises(UserError, match=r"train\.csv: cannot read \(permission denied\)"):
        load_raw(Config(data="generic", data_root=str(folder)))


def test_a_permission_error_is_one_line(tmp_path, monkeypatch):
    """What root cannot reproduce with chmod: the reading layer turns PermissionError into one line."""
    import builtins

    write_corpus(tmp_path / "corpus")
    folder = tmp_path / "corpus" / "weight_negative"
    real_open = builtins.open

    def deny(file, *args, **kwargs):
        if str(file).endswith("train.csv"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    with pytest.raises(UserError, match=r"train\.csv: cannot read \(permission denied\)"):
        load_raw(Config(data="generic", data_root=str(folder)))
