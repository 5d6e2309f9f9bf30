"""Small run-time helpers: seeding, device choice, logging."""
from __future__ import annotations

import logging
import random
import sys
from pathlib import Path

import numpy as np
import torch

from lib.errors import UserError


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but torch sees no CUDA device")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def setup_logging(log_file: Path | None = None, console_level: str = "INFO") -> logging.Logger:
    """Log `console_level` and above to stderr and, when given, DEBUG (the full config too) to
    `log_file` (appending)."""
    log = logging.getLogger("llm_tsad")
    log.setLevel(logging.DEBUG)
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(fmt)
    console.setLevel(console_level)
    log.addHandler(console)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_file)
        fh.setFormatter(fmt)
        log.addHandler(fh)
    log.propagate = False
    return log


def set_threads_and_quiet(cfg) -> None:
    """`--threads`, then `quiet_third_party`: what every entry point does first."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    quiet_third_party()


def quiet_third_party() -> None:
    """transformers warns on every Mamba build that the CUDA kernels are
    missing; on CPU that is expected, so say it once in the README instead."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
