"""Small run-time helpers: seeding, device choice, logging."""
from __future__ import annotations

import logging
import random
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np
import torch
from tqdm import tqdm

from lib.errors import UserError

T = TypeVar("T")


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


def progress(items: Iterable[T], total: int | None, desc: str, every_s: float = 300.0,
             say: Callable[[str], None] | None = None, shown: bool = True) -> tqdm:
    """`items` behind a progress bar, where `shown` (in a multi-process run, the first process only).
    On a terminal the bar shows. Off one (a log file, a benchmark cell), where the bar stays silent,
    a line every `every_s` seconds (to `say`, default the project's log) says how far the loop is and
    how long it has left at that pace, so an hour-long epoch shows where it is; shorter loops print
    nothing. The bar is returned either way, so callers can `set_postfix` on it."""
    on_terminal = sys.stderr.isatty()
    if shown and not on_terminal:
        items = reported(items, total, desc, every_s, say or logging.getLogger("llm_tsad").info)
    return tqdm(items, total=total, desc=desc, leave=False, disable=not (shown and on_terminal), mininterval=1.0)


def reported(items: Iterable[T], total: int | None, desc: str, every_s: float,
             say: Callable[[str], None]) -> Iterator[T]:
    """`items`, with a `progress_line` to `say` each time `every_s` seconds have passed since the last."""
    start = last = time.perf_counter()
    for done, item in enumerate(items):
        now = time.perf_counter()
        if now - last >= every_s:
            last = now
            say(progress_line(desc, done, total, now - start))
        yield item


def progress_line(desc: str, done: int, total: int | None, seconds: float) -> str:
    """'epoch 1/2: 300/945 (32 %), 19.5 min, about 41 min left' (no share nor time left without a total)."""
    head = f"{desc}: {done}"
    if not total:
        return f"{head}, {seconds / 60:.1f} min"
    left = f", about {seconds * (total - done) / done / 60:.0f} min left" if done else ""
    return f"{head}/{total} ({100 * done / total:.0f} %), {seconds / 60:.1f} min{left}"


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
