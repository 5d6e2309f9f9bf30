"""Shared reading of the iTrust CSV exports (SWaT, WADI) for the process scripts."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lib.data import files
from lib.errors import UserError

DROP = ("timestamp", "row", "date", "time")


def read_itrust(path: Path, skip_to_header: str | None = None) -> pd.DataFrame:
    """An iTrust CSV with its header found by name (some exports put metadata rows above it)."""
    path = files.resolve(Path(path))
    text_head = files.read_text(path).splitlines()[:10]
    skip = 0
    if skip_to_header:
        matches = [i for i, line in enumerate(text_head) if skip_to_header.lower() in line.lower()]
        if not matches:
            raise UserError(f"{path}: no header line containing {skip_to_header!r} in the first 10 lines")
        skip = matches[0]
    df = files.read_csv(path, skiprows=skip, low_memory=False)
    df.columns = [str(c).strip() for c in df.columns]
    return df


def split_label(df: pd.DataFrame, path: Path, label_col: str, attack_values: tuple) -> tuple[pd.DataFrame, np.ndarray]:
    """Sensor columns (time columns dropped) and a 0/1 label from `label_col`."""
    cols = [c for c in df.columns if label_col.lower() in c.lower()]
    if not cols:
        raise UserError(f"{path}: no label column matching {label_col!r}")
    raw = df[cols[0]].astype(str).str.replace(" ", "").str.strip().str.lower()
    labels = raw.isin([str(v).lower() for v in attack_values]).astype(np.int64).to_numpy()
    return sensors(df.drop(columns=cols)), labels


def sensors(df: pd.DataFrame) -> pd.DataFrame:
    """Numeric sensor columns: time columns and all-empty columns dropped."""
    keep = [c for c in df.columns if c.lower() not in DROP and not c.lower().startswith(DROP)]
    out = df[keep].apply(pd.to_numeric, errors="coerce")
    return out.dropna(axis=1, how="all")


def write_split(train: pd.DataFrame, test: pd.DataFrame, labels: np.ndarray, out_dir: Path, name: str) -> None:
    """`<name>_train.csv` and `<name>_test.csv` with the label as the last column."""
    common = [c for c in train.columns if c in test.columns]
    if len(common) < len(train.columns) or len(common) < len(test.columns):
        print(f"keeping the {len(common)} columns present in both train and test")
    out_dir.mkdir(parents=True, exist_ok=True)
    train[common].assign(label=0).to_csv(out_dir / f"{name}_train.csv", index=False)
    test[common].assign(label=labels).to_csv(out_dir / f"{name}_test.csv", index=False)
    print(f"{name}: train {train[common].shape}, test {test[common].shape}, {int(labels.sum())} attack rows -> {out_dir}")


def process_cli(doc: str, name: str, header: str, label_col: str, attack_values: tuple, train_labelled: bool) -> None:
    """The whole command line of process_swat.py / process_wadi.py.

    header: text of the header line (found by search, metadata rows skipped);
    train_labelled: whether the normal-operation file has the label column too.
    """
    import argparse

    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--normal", type=Path, required=True, help="normal-operation CSV (training data)")
    p.add_argument("--attack", type=Path, required=True, help="attack CSV with labels (test data)")
    p.add_argument("--out", type=Path, default=Path("dataset") / name)
    a = p.parse_args()
    normal = read_itrust(a.normal, header)
    train = split_label(normal, a.normal, label_col, attack_values)[0] if train_labelled else sensors(normal)
    test, labels = split_label(read_itrust(a.attack, header), a.attack, label_col, attack_values)
    write_split(train, test, labels, a.out, name)
