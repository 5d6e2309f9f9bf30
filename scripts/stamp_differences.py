"""Each departure from STAMP's scoring, measured on one checkpoint: "Differences from STAMP".

    python scripts/stamp_differences.py --data_root ../shared/datasets   # SMD machine-1-2, gat+ae
    python scripts/stamp_differences.py --quick                          # CI: synthetic, tiny

Trains one detector once under the benchmark's protocol (seed 1), then scores that same
checkpoint with `test.py` under STAMP's defaults and under each departure flag alone; every
row changes scoring only, so no row retrains. Each variant's result JSON is kept under
`--out`, and the table is written into docs/SCORING.md between its markers. Resumable: a
variant whose JSON exists with the same flags is not scored again.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.errors import cli_main  # noqa: E402
from scripts.benchmark import (FULL, QUICK, grid_paths, measured, metrics_of, picked, recorded_with,  # noqa: E402
                               rewrite_block)

# name -> test.py flags. The first row is STAMP's protocol (the defaults); each other changes one thing.
VARIANTS = {
    "STAMP (defaults)": [],
    "clip test to the train range": ["--clip_test", "True"],
    "recon/adv errors on the last H steps": ["--score_span", "horizon"],
    "normalise by validation errors": ["--norm_source", "val"],
    "median/IQR normalisation": ["--score_norm", "iqr"],
    "per-step labels for the STAMP columns": ["--stamp_labels", "step"],
    "POT on 200 validation windows": ["--calib_windows", "200"],
    "all five scoring departures at once": ["--clip_test", "True", "--score_span", "horizon", "--norm_source", "val",
                                            "--score_norm", "iqr", "--stamp_labels", "step"],
}
COLUMNS = (("f1", "PA-F1"), ("f1_no_pa", "F1 no-PA"), ("vus_pr", "VUS-PR"), ("pot_f1", "POT F1"))


def score_variant(name: str, flags: list[str], base: list[str], expe: Path, out: Path) -> dict:
    """test.py on the trained checkpoint with `flags`; the variant's record (cached in `out`)."""
    path = out / (name.replace(" ", "_").replace("/", "-") + ".json")
    test_flags = [*base, *flags]
    if (record := recorded_with(path, test_flags)) is not None:
        return record
    measured([sys.executable, "test.py", *test_flags], expe / "differences.log")
    result = json.loads(next((ROOT / expe / "results").glob("*.json")).read_text())
    pot = result["label_free"]["pot"]
    record = {"variant": name, "flags": test_flags, "git_commit": result["git_commit"],
              "trained_epoch": result["trained_epoch"], "metrics": metrics_of(result),
              "pot": {k: pot[k] for k in ("method", "n_excess", "n_calibration")},
              "stamp_labels": result["metrics"]["labels"]}
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1))
    return record


def table(records: list[dict]) -> str:
    """Markdown: each variant's figures and their change against STAMP's defaults (the first)."""
    base = records[0]["metrics"]
    head = ["variant", "test.py flags", *(h for _, h in COLUMNS), "POT method"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in records:
        m = r["metrics"]
        cells = []
        for k, _ in COLUMNS:
            v = m[k]
            if v != v:   # NaN: POT fell back to its quantile, so no POT F1
                cells.append("-")
            elif r is records[0]:
                cells.append(f"{v:.3f}")
            else:
                cells.append(f"{v:.3f} ({v - base[k]:+.3f})" if base[k] == base[k] else f"{v:.3f}")
        flags = " ".join(r["flags"][r["flags"].index("--expe_dir") + 2:]) or "(none)"
        pot = r["pot"]
        cells.append(f"{pot['method']}, {pot['n_excess']} of {pot['n_calibration']} above the level")
        lines.append("| " + " | ".join([r["variant"], f"`{flags}`" if flags != "(none)" else flags, *cells]) + " |")
    return "\n".join(lines)


def write_doc(doc: Path, text: str, command: str, records: list[dict]) -> None:
    commits = ", ".join(sorted({r["git_commit"] for r in records}))
    rewrite_block(doc, "differences", f"`{command}` wrote this table (code at {commits}; the checkpoint kept "
                                      f"epoch {records[0]['trained_epoch']}):\n\n{text}")


@cli_main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="synthetic data, tiny sizes (CI)")
    parser.add_argument("--data_root", default="", help="where the real datasets are")
    parser.add_argument("--out", type=Path, default=None, help="variant JSONs (default expe/results/stamp_differences)")
    parser.add_argument("--doc", type=Path, default=None, help="markdown with the markers (default docs/SCORING.md)")
    parser.add_argument("--rows", nargs="*", help="only these variants (the defaults' row always runs)")
    args = parser.parse_args()
    rows = picked("--rows", VARIANTS, args.rows)
    rows = list(dict.fromkeys([next(iter(VARIANTS)), *rows]))   # the first row is what the others are read against
    proto = QUICK if args.quick else FULL
    data = ["--data", "synthetic"] if args.quick else ["--data", "SMD", "--entity", "machine-1-2"]
    out, doc, expe = grid_paths(args, "stamp_differences_quick" if args.quick else "stamp_differences", "SCORING.md",
                                blocks=True)
    base = [*data, *(["--data_root", args.data_root] if args.data_root else []), "--seed", "1",
            "--pred_model", "gat", "--recon_model", "ae", *proto.train, "--expe_dir", str(expe)]
    if not any((ROOT / expe / "pth").glob("best_model_*.pth")):
        (ROOT / expe).mkdir(parents=True, exist_ok=True)
        measured([sys.executable, "run.py", *base], ROOT / expe / "differences.log")
    records = [score_variant(name, VARIANTS[name], base, ROOT / expe, out) for name in rows]
    command = "python scripts/stamp_differences.py" + (" --quick" if args.quick else " --data_root ../shared/datasets")
    write_doc(doc, table(records), command, records)
    print(table(records))
    if args.quick:
        shutil.rmtree(ROOT / expe, ignore_errors=True)


if __name__ == "__main__":
    main()
