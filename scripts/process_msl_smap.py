"""Turn the raw NASA telemanom layout (MSL / SMAP) into the generic npy format.

    python scripts/process_msl_smap.py --data_root RAW --spacecraft MSL --out dataset/MSL_all
    python scripts/process_msl_smap.py --data_root RAW --spacecraft SMAP --channel P-1 --out dataset/P-1

RAW holds labeled_anomalies.csv, train/<chan>.npy and test/<chan>.npy (.gz accepted).
The output folder gets train.npy, test.npy and test_label.npy, readable with
`--data generic --data_root OUT`. run.py also reads the raw layout directly
(`--data MSL [--entity C-1]`); this script is for tools that want flat files.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.config import Config  # noqa: E402
from lib.data import load_raw  # noqa: E402
from lib.errors import cli_main  # noqa: E402


@cli_main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_root", required=True, help="folder holding the raw layout (or a parent with SMAP_MSL/)")
    p.add_argument("--spacecraft", choices=("MSL", "SMAP"), required=True)
    p.add_argument("--channel", default="", help="one channel (default: all channels concatenated)")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    raw = load_raw(Config(data=a.spacecraft, entity=a.channel, data_root=a.data_root))
    a.out.mkdir(parents=True, exist_ok=True)
    np.save(a.out / "train.npy", raw.train)
    np.save(a.out / "test.npy", raw.test)
    np.save(a.out / "test_label.npy", raw.labels)
    print(f"{raw.source}: train {raw.train.shape}, test {raw.test.shape}, {int(raw.labels.sum())} anomalous steps -> {a.out}")


if __name__ == "__main__":
    main()
