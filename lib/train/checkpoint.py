"""Checkpoints and run paths. A checkpoint carries its own config, so
`test.py` rebuilds the models from it alone.

Checkpoints are read with `torch.load(weights_only=True)`: tensors, numbers, strings,
lists and dicts, plus numeric numpy arrays, allowed by name. A crafted file that asks
for anything else is refused before any of its code can run."""
from __future__ import annotations

import os
import pickle
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lib.errors import UserError
from lib.runfiles import temporary_path

# What numpy needs to rebuild a numeric array (scalers, numpy's RNG state): a dtype and the
# raw bytes. An array of Python objects would need more, and is refused.
_NUMPY_CORE = np._core if hasattr(np, "_core") else np.core
_NUMPY_SAFE = [np.ndarray, np.dtype, _NUMPY_CORE.multiarray._reconstruct,
               *(type(np.dtype(t)) for t in ("bool", "int8", "uint8", "int16", "int32", "uint32", "int64", "uint64",
                                             "float16", "float32", "float64"))]

FORMAT_VERSION = 1


def _read_git_commit(where: Path = Path(__file__).resolve().parent) -> str:
    """HEAD of the checkout holding `where`, with '+dirty' when tracked code differs from it
    (docs/, markdown files, the committed results under expe/ and the tests do not count: the
    benchmarks rewrite the first three between runs, and no run imports the tests);
    'unknown' outside a git checkout."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, cwd=where).stdout.strip()
    try:
        head = git("rev-parse", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", ":(top)", ":(top,exclude)docs",
                      ":(top,exclude)expe", ":(top,exclude)tests", ":(top,exclude,glob)**/*.md")
        return (head + ("+dirty" if changed else "")) or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# Read once, when the code is loaded: a long run must report the code it runs,
# not whatever the checkout holds when it finishes.
_COMMIT_AT_START = _read_git_commit()


def git_commit() -> str:
    """The commit of the code that runs (as it was when this process started)."""
    return _COMMIT_AT_START


def save_atomic(obj: dict[str, Any], path: Path) -> None:
    """Write to a temporary file, then rename: a killed run never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    torch.save({**obj, "format_version": FORMAT_VERSION}, tmp)
    os.replace(tmp, path)


def load(path: Path, what: str = "checkpoint") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no {what} at {path}: train it first with python run.py (same --data/--entity/--pred_model/--recon_model)")
    try:
        with torch.serialization.safe_globals(_NUMPY_SAFE):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:   # weights_only refused a global: never run it
        found = re.search(r"GLOBAL (\S+)|got <class '([^']+)'>", str(exc))
        found = next((g for g in found.groups() if g), "") if found else ""
        raise UserError(f"{path}: refused: the file asks to run code or build objects ({found or 'not plain data'}) "
                        "that a checkpoint of this project never holds") from None
    except Exception as exc:  # a truncated or foreign file: say which, in one line
        raise UserError(f"{path}: cannot read {what} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format_version") != FORMAT_VERSION or "config" not in ckpt:
        raise UserError(f"{path}: not a checkpoint of this project (or of an incompatible version)")
    return ckpt


def check_resumable(stored: dict[str, Any], cfg, path: Path) -> None:
    """Refuse to resume `path` (saved with config `stored`) under a config that trains something
    else; the budget and where files live may change."""
    from lib.config import resumable_fields
    defaults = type(cfg)().to_dict()   # a flag added since that run had its default then
    diff = sorted(k for k, v in cfg.to_dict().items()
                  if k not in resumable_fields() and stored.get(k, defaults[k]) != v)
    if diff:
        raise UserError(f"--resume: {path} was trained with other settings "
                        f"({', '.join(f'--{k} {stored.get(k)}' for k in diff[:4])})")
