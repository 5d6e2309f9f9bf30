"""Turn the iTrust SWaT CSV exports into SWaT_train.csv / SWaT_test.csv (last column = label).

    python scripts/process_swat.py --normal SWaT_Dataset_Normal_v1.csv --attack SWaT_Dataset_Attack_v0.csv --out dataset/SWaT

The label column is "Normal/Attack"; "Attack" (also spelt "A ttack") -> 1.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.errors import cli_main  # noqa: E402
from scripts.itrust import read_itrust, split_label, write_split  # noqa: E402


@cli_main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--normal", type=Path, required=True)
    p.add_argument("--attack", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("dataset/SWaT"))
    a = p.parse_args()
    train, _ = split_label(read_itrust(a.normal, "Normal/Attack"), a.normal, "Normal/Attack", ("attack",))
    test, labels = split_label(read_itrust(a.attack, "Normal/Attack"), a.attack, "Normal/Attack", ("attack",))
    write_split(train, test, labels, a.out, "SWaT")


if __name__ == "__main__":
    main()
