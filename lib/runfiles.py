"""Writing a run's files safely: the folders are writable before any work starts, one
process at a time writes a run's files (a lock file), and every file is written under a
name of its own, then renamed into place, so that a killed or concurrent run never leaves
half a file or another run's file under its name."""
from __future__ import annotations

import logging
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from lib.errors import UserError

log = logging.getLogger("llm_tsad")


def run_paths(cfg) -> dict[str, Path]:
    """Where a run's files live, all under `cfg.expe_dir`."""
    root = Path(cfg.expe_dir)
    stem = f"{cfg.data_tag}_{cfg.model_name}"
    return {
        "best": root / "pth" / f"best_model_{stem}.pth",
        "last": root / "pth" / f"last_model_{stem}.pth",
        "log": root / "log" / f"{stem}.log",
        "result": root / "results" / f"{stem}.json",
        "scores": root / "results" / f"{stem}.npz",
        "plot": root / "results" / f"{stem}.png",
        "imputer": root / "pth" / f"imputer_{stem}.pypots",
        "lock": root / "pth" / f"{stem}.lock",
    }


def temporary_path(path: Path, suffix: str = ".tmp") -> Path:
    """A sibling of `path` that no other process uses (it carries this process's id)."""
    return path.with_name(f"{path.name}.{os.getpid()}{suffix}")


def check_writable(folders: Iterable[Path], flag: str = "--expe_dir") -> None:
    """Create each folder and write a probe file in it; one `UserError` naming the folder when
    that fails, so that a run stops before it spends any time, not at its first save."""
    for folder in dict.fromkeys(Path(f) for f in folders):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = temporary_path(folder / ".write-probe")
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            why = "a file is in the way" if isinstance(exc, (FileExistsError, NotADirectoryError)) else \
                (exc.strerror or type(exc).__name__).lower()
            raise UserError(f"{flag}: cannot write to {folder} ({why})") from None


def _holder(lock: Path) -> dict[str, str]:
    try:
        fields = lock.read_text().split("\t")
    except OSError:
        return {}
    return dict(zip(("pid", "host", "since", "command"), fields))


def _is_alive(holder: dict[str, str]) -> bool:
    """Whether the process that wrote the lock still runs. On another host, or while the lock
    is still being written, we cannot tell: assume it does."""
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(holder.get("pid", "")), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):   # another user's process, or a lock still being written
        pass
    return True


def _try_create(lock: Path, text: str) -> bool:
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return True


@contextmanager
def run_lock(lock: Path) -> Iterator[None]:
    """Hold `lock` while a run writes its files. A live holder is refused in one line naming it;
    a lock left by a process that no longer runs is taken over, with a warning."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    mine = "\t".join((str(os.getpid()), socket.gethostname(), time.strftime("%Y-%m-%d %H:%M:%S"),
                      " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:300]))
    for _ in range(3):
        if _try_create(lock, mine):
            break
        holder = _holder(lock)
        if holder and _is_alive(holder):
            raise UserError(f"{lock}: another run writes these files (pid {holder.get('pid')} on "
                            f"{holder.get('host')}, since {holder.get('since')}: {holder.get('command', '?')}); "
                            "wait for it to finish, or use another --expe_dir")
        if holder:
            log.warning("%s: taking over a lock left by pid %s, which no longer runs", lock, holder.get("pid"))
        lock.unlink(missing_ok=True)
    else:
        raise UserError(f"{lock}: could not take the lock; another run keeps taking it")
    try:
        yield
    finally:
        if _holder(lock).get("pid") == str(os.getpid()):
            lock.unlink(missing_ok=True)
