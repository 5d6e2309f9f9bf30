"""Write the bad-input corpus, tests/fixtures/bad_inputs/: one small generic dataset per
case, and cases.json giving each case's extra flags and the error it must end in.

    python scripts/make_bad_inputs.py            # rewrites the corpus (deterministic)

tests/test_bad_inputs.py runs `run.py` on every case and asserts exit status 2, one line
of output and no traceback; it also checks that this script reproduces the corpus.
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "bad_inputs"
ROWS, COLS = 40, 3


def _table(seed: int, label: bool) -> str:
    """A small CSV: a0..a2 (and a label column), `ROWS` rows."""
    rng = np.random.default_rng(seed)
    header = ",".join([f"a{i}" for i in range(COLS)] + (["label"] if label else []))
    lines = [",".join([f"{v:.4f}" for v in rng.random(COLS)] + (["0"] if label else [])) for _ in range(ROWS)]
    return "\n".join([header, *lines]) + "\n"


def _good(folder: Path) -> None:
    (folder / "train.csv").write_text(_table(0, label=False))
    (folder / "test.csv").write_text(_table(1, label=True))


def _gzip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as fh:   # mtime 0: the same bytes every time
        fh.write(data)
    return buf.getvalue()


def label_text(folder: Path) -> None:
    _good(folder)
    test = (folder / "test.csv").read_text().splitlines()
    test[5] = test[5].rsplit(",", 1)[0] + ",yes"
    (folder / "test.csv").write_text("\n".join(test) + "\n")


def gzip_truncated(folder: Path) -> None:
    _good(folder)
    data = _gzip((folder / "train.csv").read_bytes())
    (folder / "train.csv").unlink()
    (folder / "train.csv.gz").write_bytes(data[: len(data) // 2])


def gzip_not_gzip(folder: Path) -> None:
    _good(folder)
    (folder / "train.csv").rename(folder / "train.csv.gz")


def file_is_a_folder(folder: Path) -> None:
    _good(folder)
    (folder / "train.csv").unlink()
    (folder / "train.csv").mkdir()
    (folder / "train.csv" / ".keep").write_text("")


def _npy(folder: Path, train: np.ndarray, test: np.ndarray, labels: np.ndarray) -> None:
    for name, arr in (("train", train), ("test", test), ("test_label", labels)):
        np.save(folder / f"{name}.npy", arr)


def npy_empty_train(folder: Path) -> None:
    _npy(folder, np.zeros((0, COLS)), np.ones((ROWS, COLS)), np.zeros(ROWS))


def npy_empty_test(folder: Path) -> None:
    _npy(folder, np.ones((ROWS, COLS)), np.zeros((0, COLS)), np.zeros(0))


def npy_strings(folder: Path) -> None:
    _npy(folder, np.full((ROWS, COLS), "abc"), np.ones((ROWS, COLS)), np.zeros(ROWS))


def columns_renamed(folder: Path) -> None:
    _good(folder)
    test = (folder / "test.csv").read_text().replace("a2,", "b2,", 1)
    (folder / "test.csv").write_text(test)


def huge_values(folder: Path) -> None:
    _good(folder)
    train = (folder / "train.csv").read_text().splitlines()
    train[3] = "1.7e308," + train[3].split(",", 1)[1]
    (folder / "train.csv").write_text("\n".join(train) + "\n")


def good(folder: Path) -> None:
    """Valid data: for the cases where a flag, not the data, is wrong."""
    _good(folder)


# case -> (writer, extra run.py flags, regular expression the error line must match)
CASES: dict[str, tuple[Callable[[Path], None], list[str], str]] = {
    "label_text": (label_text, [], r"labels must be 0 or 1; 1 other value\(s\), the first in row 4: 'yes'"),
    "gzip_truncated": (gzip_truncated, [], r"train\.csv\.gz: cannot read \(truncated or corrupt compressed data\)"),
    "gzip_not_gzip": (gzip_not_gzip, [], r"train\.csv\.gz: cannot read \(not a valid gzip file\)"),
    "file_is_a_folder": (file_is_a_folder, [], r"train\.csv: cannot read \(a folder, not a file\)"),
    "npy_empty_train": (npy_empty_train, [], r"train\.npy: the array is empty \(shape \(0, 3\)\)"),
    "npy_empty_test": (npy_empty_test, [], r"test\.npy: the array is empty \(shape \(0, 3\)\)"),
    "npy_strings": (npy_strings, [], r"train\.npy: holds <U3 values, not numbers"),
    "columns_renamed": (columns_renamed, [], r"test\.csv: its columns do not match the training file's \(only in "
                                             r"train: a2; only in test: b2\)"),
    "huge_values": (huge_values, [], r"train: values up to 1\.7e\+308 in column a0"),
    "weights_all_zero": (good, ["--test_alpha", "0", "--test_beta", "0", "--test_gamma", "0"],
                         r"--test_alpha, --test_beta and --test_gamma must be >= 0, not all 0"),
    "weight_negative": (good, ["--test_beta", "-0.5"], r"must be >= 0, not all 0; got 0\.4, -0\.5, 0\.3"),
    "expe_dir_is_a_file": (good, ["--expe_dir", "{case}/train.csv"],
                           r"--expe_dir: cannot write to .*train\.csv/pth \(a file is in the way\)"),
}


def write_corpus(root: Path) -> None:
    """(Re)write every case's folder and cases.json under `root`."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for name, (writer, _, _) in CASES.items():
        (root / name).mkdir()
        writer(root / name)
    spec = {name: {"args": args, "error": error} for name, (_, args, error) in CASES.items()}
    (root / "cases.json").write_text(json.dumps(spec, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CORPUS, help="where to write the corpus")
    write_corpus(parser.parse_args().out)


if __name__ == "__main__":
    main()
