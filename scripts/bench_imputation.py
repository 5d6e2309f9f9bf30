"""Imputation benchmark: every imputer of impute.py on the same windows and gaps, 3 seeds,
mean ± std, written to docs/IMPUTATION.md.

    python scripts/bench_imputation.py --data_root ../shared/datasets    # docs/IMPUTATION.md
    python scripts/bench_imputation.py --robustness --data_root ../shared/datasets
    python scripts/bench_imputation.py --quick                           # CI: synthetic, one seed, tiny

`--robustness`: STAMP's gat+ae detector, trained on clean SMD machine-1-2 and MSL data (with
an LLM4IMP imputer trained beside it), scores test series that lost 10 % or 30 % of their
values as points or as blocks, filled by linear interpolation or by LLM4IMP; PA-F1 and VUS-PR
against the clean test set's.

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


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.errors import UserError, cli_main  # noqa: E402
from scripts.benchmark import (add_grid_flags, cell_stem, code_commits, fmt, mean_std, measured,  # noqa: E402
                               grid_paths, picked, present, recorded_with)

LLM4IMP = ["--model", "llm4imp", "--llm_prompt_mode", "stats"]
ROWS = {   # name -> impute.py flags
    "mean": ["--model", "mean"],
    "LOCF": ["--model", "locf"],
    "linear": ["--model", "linear"],
    "SAITS (PyPOTS)": ["--model", "saits"],
    # TSI-Bench's own training budget (its global config: at most 300 epochs, patience 10), to tell
    # a protocol gap from a budget gap
    "SAITS (PyPOTS), TSI-Bench budget": ["--model", "saits", "--epochs", "300", "--patience", "10"],
    "TimeLLM (PyPOTS)": ["--model", "timellm"],
    "LLM4IMP": LLM4IMP,
    "LLM4IMP, random-init LLM": [*LLM4IMP, "--llm_pretrained", "False"],
    "LLM4IMP, no LLM layers": [*LLM4IMP, "--llm_skip_layers", "True"],
}
# TSI-Bench (Du et al., 2024), ETT_h1, 10 % point missingness: MAE / MSE as published.
SAITS_PUBLISHED = "0.1441 / 0.0469"
PUBLISHED = {"SAITS (PyPOTS)": SAITS_PUBLISHED, "SAITS (PyPOTS), TSI-Bench budget": SAITS_PUBLISHED,
             "BRITS": "0.1447 / -", "Transformer": "0.1783 / -"}


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
         "with the standard 12/4/4-month split, SMD machine-1-2 and MSL (all channels) with their training series "
         "alone, cut 60/20/20 % in time (`--imp_series train`); standard scaling fitted on train. The trained "
         "models run at most 10 epochs with early stopping after 3 epochs without a better validation MSE, "
         "except the row marked TSI-Bench budget, which trains SAITS as TSI-Bench's code does (at most 300 epochs, "
         "patience 10); "
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
ROBUSTNESS = {"datasets": {"SMD": "machine-1-2", "MSL": ""}, "rates": (0.1, 0.3), "patterns": ("point", "block"),
              "fills": ("linear", "llm4imp"), "seeds": (1, 2, 3)}
COLUMNS = (("mae", "MAE", "{:.4f}"), ("mse", "MSE", "{:.4f}"), ("mre", "MRE", "{:.4f}"),
           ("seconds_per_epoch", "s / epoch", "{:.1f}"), ("windows_per_s", "windows/s", "{:.0f}"),
           ("peak_gb", "peak GB", "{:.2f}"))


def run_cell(flags: list[str], expe: Path) -> dict:
    """One impute.py run; its result JSON with wall time and peak memory, or why it could not run."""
    where = ROOT / expe   # the runs' cwd is ROOT; a relative expe is under it, and names no machine folder
    where.mkdir(parents=True, exist_ok=True)
    try:
        seconds, peak = measured([sys.executable, "impute.py", *flags, "--expe_dir", str(expe)], where / "bench.log")
    except UserError as exc:   # keep impute.py's own one-line reason, without the log's path
        reason = str(exc).split("error: ", 1)[-1].split("; see ", 1)[0].split(" (", 1)[0]
        return {"flags": flags, "not_run": reason[:300]}
    result = json.loads(next((where / "results" / "imputation").glob("*.json")).read_text())
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
            stats = {k: mean_std([m[k] for m in done]) for k, _, _ in COLUMNS}
            lines.append("| " + " | ".join([dataset, row, str(len(done)), *(fmt(stats[k], f) for k, _, f in COLUMNS),
                                            published]) + " |")
    return "\n".join(lines)


def robustness_cells(data_root: str, quick: bool, seed: int,
                     only: list[str] | None = None) -> list[tuple[str, list[str], list[list[str]]]]:
    """Per dataset: the run.py flags (gat+ae, LLM4IMP trained beside it) and the test.py flags of
    each scoring (clean first, then every rate x pattern x fill)."""
    from scripts.benchmark import FULL as DETECTION, QUICK as DETECTION_QUICK

    proto = DETECTION_QUICK if quick else DETECTION
    datasets = {"synthetic": ""} if quick else ROBUSTNESS["datasets"]
    out = []
    for dataset in picked("--datasets", datasets, only):
        entity = datasets[dataset]
        if not present(dataset, data_root):
            continue
        base = ["--data", dataset, *(["--entity", entity] if entity else []),
                *(["--data_root", data_root] if data_root else []), "--seed", str(seed),
                "--pred_model", "gat", "--recon_model", "ae", *proto.train, *proto.dataset_flags.get(dataset, []),
                "--impute", "llm4imp", "--llm_layers", "1" if quick else "3", "--imp_steps", "24" if quick else "48"]
        tests = [[]] + [["--test_missing_rate", str(r), "--test_missing_pattern", p, "--impute", f]
                        for r in ROBUSTNESS["rates"] for p in ROBUSTNESS["patterns"] for f in ROBUSTNESS["fills"]]
        out.append((dataset, base, tests))
    return out


def run_robustness(data_root: str, quick: bool, out: Path, expe_root: Path, seeds: list[int] | None,
                   only: list[str] | None) -> None:
    """Per seed, train each detector once, then score the clean and every gapped test series; one JSON
    per scoring. Seed by seed, so that a run stopped half-way has whole seeds."""
    for seed in picked("--seeds", [1] if quick else ROBUSTNESS["seeds"], seeds):
        for dataset, base, tests in robustness_cells(data_root, quick, seed, only):
            expe = expe_root / "robustness" / f"{dataset}_seed{seed}"
            where = ROOT / expe   # as in run_cell
            trained = where / "trained_with.txt"   # the flags of the detector trained there
            if not trained.is_file() or trained.read_text() != " ".join(base):
                where.mkdir(parents=True, exist_ok=True)
                print(f"robustness: training gat+ae with LLM4IMP on {dataset}, seed {seed}", file=sys.stderr)
                measured([sys.executable, "run.py", *base, "--expe_dir", str(expe)], where / "bench.log")
                trained.write_text(" ".join(base))
            for extra in tests:
                name = "clean" if not extra else f"{extra[1]}_{extra[3]}_{extra[5]}"
                path = out / "robustness" / f"{dataset}__seed{seed}__{name}.json"
                if recorded_with(path, [*base, *extra]) is not None:
                    continue
                print(f"robustness: {dataset} seed {seed} {name}", file=sys.stderr)
                measured([sys.executable, "test.py", *base, *extra, "--expe_dir", str(expe)], where / "bench.log")
                r = json.loads(next((where / "results").glob("*_gat_ae.json")).read_text())
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps({"dataset": dataset, "seed": seed, "scoring": name, "flags": [*base, *extra],
                                            "git_commit": r["git_commit"], "filled": r["data"]["filled_values"],
                                            "f1": r["metrics"]["f1"], "vus_pr": r["beyond_pa"]["vus_pr"]}, indent=1))


def robustness_table(folder: Path) -> str:
    """One line per dataset x gaps x fill: PA-F1 and VUS-PR, mean ± std over the seeds run, beside
    the clean test series' scores over the same seeds."""
    groups: dict[tuple[str, str], dict[int, dict]] = {}
    for p in sorted(folder.glob("*.json")):
        r = json.loads(p.read_text())
        groups.setdefault((r["dataset"], r["scoring"]), {})[r["seed"]] = r
    if not groups:
        return ""
    lines = ["| data | test values removed | filled by | seeds | values filled | PA-F1 | VUS-PR | PA-F1 clean | "
             "VUS-PR clean |", "|---|---|---|---|---|---|---|---|---|"]
    for (dataset, scoring), by_seed in groups.items():
        if scoring == "clean":
            continue
        rate, pattern, fill = scoring.split("_")
        clean = [c for s, c in groups.get((dataset, "clean"), {}).items() if s in by_seed]
        stat = {k: mean_std([r[k] for r in by_seed.values()]) for k in ("f1", "vus_pr", "filled")}
        clean_stat = {k: mean_std([c[k] for c in clean]) if clean else None for k in ("f1", "vus_pr")}
        lines.append(f"| {dataset} | {float(rate):.0%} {pattern} | {fill} | {len(by_seed)} | "
                     f"{fmt(stat['filled'], '{:.0f}')} | {fmt(stat['f1'], '{:.3f}')} | {fmt(stat['vus_pr'], '{:.3f}')} | "
                     f"{fmt(clean_stat['f1'], '{:.3f}')} | {fmt(clean_stat['vus_pr'], '{:.3f}')} |")
    return "\n".join(lines)


def write_report(setting: Setting, out: Path, doc: Path, command: str) -> None:
    records: dict[tuple[str, str], list[dict]] = {}
    for p in sorted(out.glob("*.json")):
        r = json.loads(p.read_text())
        records.setdefault((r["dataset"], r["row"]), []).append(r)
    commits = code_commits([r for rs in records.values() for r in rs])
    text = ["# Imputation", "", "Regenerate (resumable; cells already run are kept):", "", "```bash", command, "```", "",
            "## Protocol", "", setting.note, "",
            f"Code at commit(s) {commits}. Mean ± sample std over the seeds; errors on "
            "standard-scaled values; s / epoch is the fit time over the epochs run, windows/s the test imputation "
            "rate, peak GB the process's resident peak. The last column is TSI-Bench's published figure for the "
            "same setting, where it reports one.", "", summary_table(records, list(setting.datasets)), ""]
    robust = robustness_table(out / "robustness")
    if robust:
        text += ["## Robustness of detection to missing test values", "",
                 f"`{command.replace(' --quick', '')} --robustness{' --quick' if '--quick' in command else ''}`: "
                 "STAMP's gat+ae, trained on clean data under docs/RESULTS.md's protocol with an LLM4IMP imputer "
                 "beside it (3 LLM layers, the `dataset` prompt, the detector's epochs and at most its "
                 "`--max_train_windows` training windows), scores the test series after the values were removed "
                 "and filled. Mean ± sample std over the seeds run (`--seeds` picks some of 1, 2, 3); the clean "
                 "columns average the same seeds.", "", robust, ""]
    doc.parent.mkdir(parents=True, exist_ok=True)
    keep = doc.read_text().split("<!-- notes -->", 1)[1] if doc.is_file() and "<!-- notes -->" in doc.read_text() else ""
    doc.write_text("\n".join(text) + ("\n<!-- notes -->" + keep if keep else ""))


@cli_main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robustness", action="store_true", help="the detection-under-gaps experiment instead")
    add_grid_flags(parser, "expe/results/imputation_bench", "docs/IMPUTATION.md", "expe/imputation_bench")
    args = parser.parse_args()
    setting = QUICK if args.quick else FULL
    suffix = "_quick" if args.quick else ""
    out, doc, expe_root = grid_paths(args, f"imputation_bench{suffix}", "IMPUTATION.md")
    command = "python scripts/bench_imputation.py" + (" --quick" if args.quick else " --data_root ../shared/datasets")
    if args.robustness and args.rows:
        raise UserError("--rows picks imputers of the imputation grid; the robustness experiment has none to pick")
    if args.robustness and not args.report_only:
        run_robustness(args.data_root, args.quick, out, expe_root, args.seeds, args.datasets)
    elif not args.report_only:
        rows = picked("--rows", ROWS, args.rows)
        if args.quick:
            rows = [r for r in rows if "TimeLLM" not in r and "SAITS" not in r]   # hub-bound / slow: not for CI
        from tqdm import tqdm

        cells = [(d, e, r, s) for s in picked("--seeds", setting.seeds, args.seeds)
                 for d in picked("--datasets", setting.datasets, args.datasets) if present(d, args.data_root)
                 for e in setting.datasets[d] for r in rows]
        for dataset, entity, row, seed in tqdm(cells, desc="cells", disable=None):
            stem = cell_stem(dataset, entity, row, seed)
            flags = ["--data", dataset, *(["--entity", entity] if entity else []),
                     *(["--data_root", args.data_root] if args.data_root else []), "--seed", str(seed),
                     *setting.flags, *(setting.dataset_flags or {}).get(dataset, []), *ROWS[row]]
            path = out / f"{stem}.json"
            if recorded_with(path, flags) is not None:
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
