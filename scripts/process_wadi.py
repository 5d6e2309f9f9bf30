"""Turn the iTrust WADI CSV exports into WADI_train.csv / WADI_test.csv (last column = label).

    python scripts/process_wadi.py --normal WADI_14days_new.csv --attack WADI_attackdataLABLE.csv --out dataset/WADI

The attack file of WADI.A2 has a label column "Attack LABLE (1:No Attack, -1:Attack)",
with its header on the second line; -1 -> 1. Empty columns are dropped.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.errors import cli_main  # noqa: E402
from scripts.itrust import read_itrust, sensors, split_label, write_split  # noqa: E402


@cli_main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--normal", type=Path, required=True)
    p.add_argument("--attack", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("dataset/WADI"))
    a = p.parse_args()
    train = sensors(read_itrust(a.normal, "Row"))
    test, labels = split_label(read_itrust(a.attack, "Row"), a.attack, "Attack LABLE", ("-1",))
    write_split(train, test, labels, a.out, "WADI")


if __name__ == "__main__":
    main()
