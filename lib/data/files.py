"""Low-level file reading shared by every dataset reader.

Each function reads one file, opens `.gz` transparently (the shared copies are
gzip-compressed), and turns every failure into a one-line `UserError` that
names the file and the problem: the one place where reading errors (a corrupt
or truncated gzip, permissions, a folder in a file's place, encodings, empty
or non-numeric arrays) are caught.

Pickles are not read: unpickling a file can run any code in it.
"""
from __future__ import annotations

import functools
import gzip
import io
import zlib
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np
import pandas as pd

from lib.errors import UserError

_DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", " ": "space"}
R = TypeVar("R")


def _why_unreadable(exc: BaseException) -> str:
    """A short reason for a failed read, without the exception's own multi-line text."""
    if isinstance(exc, gzip.BadGzipFile):
        return "not a valid gzip file"
    if isinstance(exc, (EOFError, zlib.error)):
        return "truncated or corrupt compressed data"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "a folder, not a file"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def reads_file(fn: Callable[..., R]) -> Callable[..., R]:
    """Decorate a reader whose first argument is a path: any failure to read becomes one
    `UserError` naming the file (a `UserError` the reader raised itself passes unchanged)."""

    @functools.wraps(fn)
    def wrapped(path, *args, **kwargs) -> R:
        try:
            return fn(path, *args, **kwargs)
        except UserError:
            raise
        except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as exc:
            shown = resolve(path) if exists(path) else path
            raise UserError(f"{shown}: cannot read ({_why_unreadable(exc)})") from None

    return wrapped


def resolve(path: Path) -> Path:
    """`path` itself, or `path.gz` when only the compressed copy exists."""
    path = Path(path)
    if path.is_file():
        return path
    gz = path.with_name(path.name + ".gz")
    if gz.is_file():
        return gz
    if path.exists():
        raise UserError(f"{path}: cannot read (a folder, not a file)")
    raise UserError(f"file not found: {path}")


def exists(path: Path) -> bool:
    path = Path(path)
    return path.is_file() or path.with_name(path.name + ".gz").is_file()


def _open_binary(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


@reads_file
def _first_line(path: Path) -> str:
    with _open_binary(path) as fh:
        return fh.readline().decode("utf-8", errors="replace")


def _check_not_empty(path: Path) -> None:
    if not _first_line(path).strip():
        raise UserError(f"{path}: file is empty")


def _delimiter_hint(path: Path, expected: str) -> str:
    line = _first_line(path)
    found = [name for sep, name in _DELIMITERS.items() if sep != expected and sep.strip() and sep in line]
    if expected not in line and found:
        return f"wrong delimiter: expected {_DELIMITERS.get(expected, repr(expected))}-separated values, the file looks {found[0]}-separated"
    return ""


@reads_file
def read_matrix_txt(path: Path, delimiter: str = ",") -> np.ndarray:
    """A headerless numeric text matrix, `[T, N]` float64 (a single column gives `[T, 1]`)."""
    path = resolve(path)
    _check_not_empty(path)
    try:
        arr = np.loadtxt(path, delimiter=delimiter, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        hint = _delimiter_hint(path, delimiter)
        raise UserError(f"{path}: {hint or 'not a numeric matrix (' + str(exc).splitlines()[0] + ')'}") from None
    if arr.size == 0:
        raise UserError(f"{path}: file is empty")
    return arr


def read_vector_txt(path: Path) -> np.ndarray:
    """One number per line, `[T]`."""
    arr = read_matrix_txt(path)
    if arr.shape[1] != 1:
        raise UserError(f"{resolve(path)}: expected one label per line, found {arr.shape[1]} columns")
    return arr[:, 0]


@reads_file
def read_text(path: Path) -> str:
    path = resolve(path)
    with _open_binary(path) as fh:
        return fh.read().decode("utf-8", errors="replace")


@reads_file
def read_csv(path: Path, sep: str = ",", **kwargs) -> pd.DataFrame:
    """A CSV with a header. Detects an empty file and a wrong delimiter."""
    path = resolve(path)
    _check_not_empty(path)
    try:
        df = pd.read_csv(path, sep=sep, **kwargs)
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot parse as CSV ({str(exc).splitlines()[0]})") from None
    if df.shape[1] <= 1:
        hint = _delimiter_hint(path, sep)
        if hint:
            raise UserError(f"{path}: {hint}")
    if len(df) == 0:
        raise UserError(f"{path}: file has a header but no rows")
    return df


@reads_file
def read_npy(path: Path) -> np.ndarray:
    """A numeric `.npy` array (never pickled objects), non-empty."""
    path = resolve(path)
    with _open_binary(path) as fh:
        arr = np.load(io.BytesIO(fh.read()), allow_pickle=False)
    if arr.dtype.kind not in "biuf":
        raise UserError(f"{path}: holds {arr.dtype} values, not numbers")
    if arr.size == 0:
        raise UserError(f"{path}: the array is empty (shape {arr.shape})")
    return arr
