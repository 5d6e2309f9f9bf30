"""Feed a run's saved scores to TSB-AD's own `get_metrics` and set its threshold-free metrics
beside ours.

    python scripts/tsbad_check.py expe/results/SMD_machine-1-2_gat_ae

Run it in an environment where TSB-AD 1.5 imports (it pins numpy<2, so not this project's):

    python -m venv tsbad && tsbad/bin/pip install "numpy<2" scikit-learn scipy pandas tqdm
    tsbad/bin/pip install --no-deps tsb-ad==1.5

It reads `<run>.npz` (the scores, labels and VUS window test.py saved) and `<run>.json` (our
metrics), imports nothing of this project, and exits 1 when a difference exceeds --tol.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

# TSB-AD's name -> where our result JSON keeps the same metric (under beyond_pa)
PAIRS = {"AUC-PR": "auc_pr", "AUC-ROC": "auc_roc", "VUS-ROC": "vus_roc", "VUS-PR": "vus_pr"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a result's path without its extension (the .npz and .json beside it)")
    parser.add_argument("--tol", type=float, default=1e-6, help="largest accepted |ours - TSB-AD|")
    args = parser.parse_args()
    npz, js = args.run.with_suffix(".npz"), args.run.with_suffix(".json")
    for path in (npz, js):
        if not path.is_file():
            sys.exit(f"{path}: not found (run test.py first)")
    try:
        from TSB_AD.evaluation.metrics import get_metrics
    except ImportError as exc:
        sys.exit(f"TSB-AD does not import here ({exc}); see this script's docstring for its environment")
    z = np.load(npz)
    ours = json.loads(js.read_text())["beyond_pa"]
    theirs = get_metrics(z["score"], z["label"], slidingWindow=int(z["vus_window"]))
    worst = 0.0
    print(f"{'metric':8}  {'TSB-AD':>10}  {'ours':>10}  {'|diff|':>9}   (slidingWindow={int(z['vus_window'])})")
    for name, key in PAIRS.items():
        diff = abs(float(theirs[name]) - float(ours[key]))
        worst = max(worst, diff)
        print(f"{name:8}  {float(theirs[name]):10.7f}  {float(ours[key]):10.7f}  {diff:9.2e}")
    print(f"largest difference {worst:.2e} ({'within' if worst <= args.tol else 'ABOVE'} {args.tol:g})")
    sys.exit(0 if worst <= args.tol else 1)


if __name__ == "__main__":
    main()
