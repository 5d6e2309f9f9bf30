"""Turn the iTrust WADI CSV exports into WADI_train.csv / WADI_test.csv (last column = label).

    python scripts/process_wadi.py --normal WADI_14days_new.csv --attack WADI_attackdataLABLE.csv --out dataset/WADI

The attack file of WADI.A2 has a label column "Attack LABLE (1:No Attack, -1:Attack)",
with its header on the second line; -1 -> 1. Empty columns are dropped.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.errors import cli_main  # noqa: E402
from scripts.itrust import process_cli  # noqa: E402

if __name__ == "__main__":
    cli_main(lambda: process_cli(__doc__, "WADI", header="Row", label_col="Attack LABLE",
                                 attack_values=("-1",), train_labelled=False))()
