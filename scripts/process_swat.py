"""Turn the iTrust SWaT CSV exports into SWaT_train.csv / SWaT_test.csv (last column = label).

    python scripts/process_swat.py --normal SWaT_Dataset_Normal_v1.csv --attack SWaT_Dataset_Attack_v0.csv --out dataset/SWaT

The label column is "Normal/Attack"; "Attack" (also spelt "A ttack") -> 1.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.errors import cli_main  # noqa: E402
from scripts.itrust import process_cli  # noqa: E402

if __name__ == "__main__":
    cli_main(lambda: process_cli(__doc__, "SWaT", header="Normal/Attack", label_col="Normal/Attack",
                                 attack_values=("attack",), train_labelled=True))()
