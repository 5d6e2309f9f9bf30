"""`accelerate launch run.py`: two CPU processes (gloo) train like one process with twice the batch."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lib.train.checkpoint import load
from tests.conftest import REPO
from tests.test_cli import TINY

# No dropout, so that both runs draw no random numbers while training. Few steps (3 per epoch), because
# Adam turns float rounding into growing differences; two epochs, so the adversarial updates run too.
ARGS = [*TINY, "--epochs", "2", "--max_train_windows", "96", "--dropout", "0", "--device", "cpu"]


def launch(tmp: Path, processes: int, batch_size: int) -> subprocess.CompletedProcess:
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    if accelerate is None:
        pytest.skip("accelerate's launcher is not installed beside this Python")
    head = ([accelerate, "launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
             "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517"]
            if processes > 1 else [sys.executable])
    return subprocess.run([*head, "run.py", *ARGS, "--batch_size", str(batch_size), "--expe_dir", str(tmp)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def test_two_processes_match_one_with_twice_the_batch(tmp_path):
    two = launch(tmp_path / "two", 2, 16)
    assert two.returncode == 0, two.stderr[-2000:]
    files = sorted(p.name for p in (tmp_path / "two" / "pth").iterdir())
    assert files == ["best_model_synthetic_gat_ae.pth", "last_model_synthetic_gat_ae.pth"]   # written once
    log = (tmp_path / "two" / "log" / "synthetic_gat_ae.log").read_text()
    assert log.count("epoch 2:") == 1 and "2 process(es)" in log                           # by the main process

    one = launch(tmp_path / "one", 1, 32)
    assert one.returncode == 0, one.stderr[-2000:]
    a, b = (load(tmp_path / d / "pth" / "last_model_synthetic_gat_ae.pth") for d in ("two", "one"))
    assert (a["processes"], b["processes"]) == (2, 1)
    for branch in ("pred", "recon"):
        for name, value in a[branch].items():
            torch.testing.assert_close(value, b[branch][name], rtol=1e-5, atol=1e-5, msg=f"{branch}.{name}")
