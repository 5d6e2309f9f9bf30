"""Imputation benchmark: every imputer of impute.py on the same windows and gaps, 3 seeds,
mean ± std, written to docs/IMPUTATION.md.

    python scripts/bench_imputation.py --data_root ../shared/datasets    # docs/IMPUTATION.md
    python scripts/bench_imputation.py --quick                           # CI: synthetic, one seed, tiny

Protocol (TSI-Bench's on ETT_h1): windows of 48 steps, 10 % of the test values removed at
random (points), the standard 12/4/4-month split, standard scaling fitted on train; MAE,
MSE and MRE on the removed values only. Each (dataset, imputer, seed) runs `impute.py` in
its own process (wall time and peak memory are its own) and writes one JSON under
`<out>/`; a rerun skips the cells already there with the same flags.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.errors import UserError, cli_main  # noqa: E402
from scripts.benchmark import add_grid_flags, fmt, measured, present  # noqa: E402

LLM4IMP = ["--model", "llm4imp", "--llm_prompt_mode", "stats"]
ROWS = {   # name -> impute.py flags
    "mean": ["--model", "mean"],
    "LOCF": ["--model", "locf"],
    "linear": ["--model", "linear"],
    "SAITS (PyPOTS)": ["--model", "saits"],
    "TimeLLM (PyPOTS)": ["--model", "timellm"],
    "LLM4IMP": LLM4IMP,
    "LLM4IMP, random-init LLM": [*LLM4IMP, "--llm_pretrained", "False"],
    "LLM4IMP, no LLM layers": [*LLM4IMP, "--llm_skip_layers", "True"],
}
# TSI-Bench (Du et al., 2024), ETT_h1, 10 % point missingness: MAE / MSE as published.
PUBLISHED = {"SAITS (PyPOTS)": "0.1441 / 0.0469", "BRITS": "0.1447 / -", "Transformer": "0.1783 / -"}


@dataclass(frozen=True)
class Setting:
    datasets: dict[str, list[str]]      # dataset -> entities
    seeds: list[int]
    flags: list[str]                    # impute.py flags shared by every row
    note: str
    dataset_flags: dict[str, list[str]] | None = None   # after `flags`, so they win


FULL = Setting(
    datasets={"ETTh1": [""], "SMD": ["machine-1-2"], "MSL": [""]},
    seeds=[1, 2, 3],
    flags=["--missing_rate", "0.1", "--missing_pattern", "point", "--imp_steps", "48", "--epochs", "10",
           "--patience", "3", "--batch_size", "32", "--llm_layers", "6"],
    note="Windows of 48 steps; 10 % of the test values removed at random (points, pygrinder's MCAR); ETT_h1 "
         "with the standard 12/4/4-month split, SMD machine-1-2 and MSL (all channels) with their train series "
         "(the last 20 % for validation) and their test series; standard scaling fitted on train. The trained "
         "models run at most 10 epochs with early stopping after 3 epochs without a better validation MSE; "
         "LLM4IMP uses the bundled SmolLM2-135M's first 6 layers and the `stats` prompt. SMD and MSL train on "
         "100 and 60 evenly spaced training windows (`--max_train_windows`), which keeps LLM4IMP's CPU time near "
         "ETT_h1's (38 and 55 features against 7).",
    dataset_flags={"SMD": ["--max_train_windows", "100"], "MSL": ["--max_train_windows", "60"]})
QUICK = Setting(
    datasets={"synthetic": [""]},
    seeds=[1],
    flags=["--missing_rate", "0.1", "--missing_pattern", "point", "--imp_steps", "24", "--epochs", "1",
           "--batch_size", "16", "--llm_layers", "1", "--syn_features", "3", "--syn_train_len", "960",
           "--syn_test_len", "480"],
    note="`--quick`: one seed, one epoch, a 3-feature synthetic series, one LLM layer. It proves the script "
         "runs; its figures mean nothing.")
COLUMNS = (("mae", "MAE", "{:.4f}"), ("mse", "MSE", "{:.4f}"), ("mre", "MRE", "{:.4f}"),
           ("seconds_per_epoch", "s / epoch", "{:.1f}"), ("windows_per_s", "windows/s", "{:.0f}"),
           ("peak_gb", "peak GB", "{:.2f}"))


def cell_stem(dataset: str, entity: str, row: str, seed: int) -> str:
    name = f"{dataset}_{entity}" if entity else dataset
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{name}__{row}__seed{seed}")


def run_cell(flags: list[str], expe: Path) -> dict:
    """One impute.py run; its result JSON with wall time and peak memory, or why it could not run."""
    expe.mkdir(parents=True, exist_ok=True)
    try:
        seconds, peak = measured([sys.executable, "impute.py", *flags, "--expe_dir", str(expe)], expe / "bench.log")
    except UserError as exc:
        return {"flags": flags, "not_run": str(exc).split(": ", 1)[-1][:300]}
    result = json.loads(next((expe / "results" / "imputation").glob("*.json")).read_text())
    return {"flags": flags, "git_commit": result["git_commit"], "config": result["config"],
            "metrics": {**result["metrics"], **result["timing"], "wall_s": seconds, "peak_gb": peak}}


def summary_table(records: dict[tuple[str, str], list[dict]], datasets: list[str]) -> str:
    head = ["data", "imputer", "seeds", *(h for _, h, _ in COLUMNS), "TSI-Bench MAE / MSE"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for dataset in datasets:
        for row in ROWS:
            recs = records.get((dataset, row), [])
            done = [r["metrics"] for r in recs if "metrics" in r]
            published = PUBLISHED.get(row, "") if dataset == "ETTh1" else ""
            if not done:
                if recs:
                    lines.append(f"| {dataset} | {row} | 0 | not run: {recs[0]['not_run']} |" + " |" * len(COLUMNS))
                continue
            stats = {k: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else float("nan"), len(v))
                     for k, v in ((k, [m[k] for m in done]) for k, _, _ in COLUMNS)}
            lines.append("| " + " | ".join([dataset, row, str(len(done)), *(fmt(stats[k], f) for k, _, f in COLUMNS),
                                            published]) + " |")
    return "\n".join(lines)


def write_report(setting: Setting, out: Path, doc: Path, command: str) -> None:
    records: dict[tuple[str, str], list[dict]] = {}
    for p in sorted(out.glob("*.json")):
        r = json.loads(p.read_text())
        records.setdefault((r["dataset"], r["row"]), []).append(r)
    commits = sorted({r["git_commit"] for rs in records.values() for r in rs if "git_commit" in r})
    text = ["# Imputation", "", "Regenerate (resumable; cells already run are kept):", "", "```bash", command, "```", "",
            "## Protocol", "", setting.note, "",
            f"Code at commit(s) {', '.join(commits) or '-'}. Mean ± sample std over the seeds; errors on "
            "standard-scaled values; s / epoch is the fit time over the epochs run, windows/s the test imputation "
            "rate, peak GB the process's resident peak. The last column is TSI-Bench's published figure for the "
            "same setting, where it reports one.", "", summary_table(records, list(setting.datasets)), ""]
    doc.parent.mkdir(parents=True, exist_ok=True)
    keep = doc.read_text().split("<!-- notes -->", 1)[1] if doc.is_file() and "<!-- notes -->" in doc.read_text() else ""
    doc.write_text("\n".join(text) + ("\n<!-- notes -->" + keep if keep else ""))


@cli_main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="*", choices=list(ROWS), help="only these imputers")
    add_grid_flags(parser, "expe/results/imputation_bench", "docs/IMPUTATION.md", "expe/imputation_bench")
    args = parser.parse_args()
    setting = QUICK if args.quick else FULL
    suffix = "_quick" if args.quick else ""
    out = args.out or ROOT / "expe" / "results" / f"imputation_bench{suffix}"
    doc = args.doc or (out / "IMPUTATION.md" if args.quick else ROOT / "docs" / "IMPUTATION.md")
    expe_root = args.expe_dir or ROOT / "expe" / f"imputation_bench{suffix}"
    command = "python scripts/bench_imputation.py" + (" --quick" if args.quick else " --data_root ../shared/datasets")
    if not args.report_only:
        rows = args.rows or list(ROWS)
        if args.quick:
            rows = [r for r in rows if "TimeLLM" not in r and "SAITS" not in r]   # hub-bound / slow: not for CI
        from tqdm import tqdm

        cells = [(d, e, r, s) for s in setting.seeds for d, ents in setting.datasets.items()
                 if (not args.datasets or d in args.datasets) and present(d, args.data_root) for e in ents
                 for r in rows]
        for dataset, entity, row, seed in tqdm(cells, desc="cells", disable=None):
            stem = cell_stem(dataset, entity, row, seed)
            flags = ["--data", dataset, *(["--entity", entity] if entity else []),
                     *(["--data_root", args.data_root] if args.data_root else []), "--seed", str(seed),
                     *setting.flags, *(setting.dataset_flags or {}).get(dataset, []), *ROWS[row]]
            path = out / f"{stem}.json"
            if path.is_file() and json.loads(path.read_text())["flags"] == flags:
                continue
            print(f"{dataset} {entity} {row} seed {seed}", file=sys.stderr)
            record = {"dataset": dataset, "entity": entity, "row": row, "seed": seed,
                      **run_cell(flags, expe_root / stem)}
            out.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record, indent=1))
    write_report(setting, out, doc, command)
    print(f"wrote {doc}")


if __name__ == "__main__":
    main()
