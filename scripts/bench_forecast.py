"""The forecasting grid: `forecast.py` runs under the long-horizon protocol, summarised as
mean ± std over seeds beside the published figures, into docs/FORECASTING.md.

    python scripts/bench_forecast.py --data_root ../shared/datasets --estimate   # one timed epoch each, the grid's CPU time
    python scripts/bench_forecast.py --data_root ../shared/datasets              # run (resumable), then the tables
    python scripts/bench_forecast.py --report_only                               # the tables from the committed cells

Groups (`--groups`):
- `cheap`: naive, seasonal naive, DLinear (at its own rate and at the library's 1e-4), PatchTST;
  ETTh1 and ETTh2; horizons 96/192/336/720; full training data; seeds 1-3 (one for the two naive
  models, which have nothing random);
- `fewshot`: Time-LLM, LLM-PS, and DLinear and PatchTST beside them; 10 % of the training
  windows; ETTh1 and ETTh2 at horizons 96 and 336; seeds 1-3; and the two LLM rows with the
  frozen LLM in bfloat16 on ETTh1-96;
- `full_llm`: Time-LLM and LLM-PS on all of ETTh1's training data, horizon 96;
- `ablations`: LLM-PS with one thing changed at a time, few-shot ETTh1-96, seeds 1-3.

Every cell runs in its own process (wall time and peak memory are its own) with its own
`--expe_dir`, and writes `<out>/<cell>.json`; a rerun skips the cells already there with the
same flags and resumes a cell's interrupted training (`--resume True`). `--max_hours` stops
starting new cells once that much wall time has passed.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.errors import cli_main  # noqa: E402
from scripts.benchmark import fmt, mean_std, measured, present, rewrite_block  # noqa: E402

DATASETS = ("ETTh1", "ETTh2")
HORIZONS = (96, 192, 336, 720)
SEEDS = (1, 2, 3)
# The LLM rows: Time-LLM's ETTh1 sizes (d_model 32, d_ff 128, 1000 text prototypes, 8 heads) on the
# bundled SmolLM2's first 6 layers, the prompt cached.
LLM_FLAGS = ["--llm_d_model", "32", "--llm_d_ff", "128", "--llm_num_tokens", "1000", "--llm_n_heads", "8"]
MODELS = {   # row -> forecast.py flags
    "naive": ["--model", "naive"],
    "seasonal naive": ["--model", "seasonal_naive"],
    "DLinear": ["--model", "dlinear"],
    # the Time-Series-Library's default rate, which its DLinear scripts keep (the source of the
    # published lookback-96 figures), beside DLinear's own 0.005
    "DLinear (lr 1e-4)": ["--model", "dlinear", "--fc_lr", "0.0001"],
    "PatchTST": ["--model", "patchtst"],
    "Time-LLM": ["--model", "timellm", *LLM_FLAGS],
    "LLM-PS": ["--model", "llm_ps", *LLM_FLAGS],
    # the frozen LLM in bfloat16: few-shot ETTh1-96 beside the float32 rows, to see whether it
    # changes the error beyond seed noise before the grid uses it
    "Time-LLM (bf16)": ["--model", "timellm", *LLM_FLAGS, "--llm_dtype", "bfloat16"],
    "LLM-PS (bf16)": ["--model", "llm_ps", *LLM_FLAGS, "--llm_dtype", "bfloat16"],
}
BF16_ROWS = ("Time-LLM (bf16)", "LLM-PS (bf16)")
ABLATIONS = {   # row -> flags after LLM-PS's
    "LLM-PS (frozen)": [],
    "no MSCNN": ["--ps_mscnn", "False"],
    "no T2T": ["--ps_t2t", "False"],
    "LoRA r=8": ["--llm_lora_r", "8"],
    "random-init LLM": ["--llm_pretrained", "False"],
    "no LLM layers (identity)": ["--llm_skip_layers", "True"],
    "one attention layer": ["--llm_one_attention", "True"],
}
DETERMINISTIC = ("naive", "seasonal naive")
CHEAP = ("naive", "seasonal naive", "DLinear", "PatchTST", "DLinear (lr 1e-4)")

# Published figures at lookback 96 (MSE, MAE); None where a paper gives only the MSE.
LLM_PS_LONG = "LLM-PS (arXiv 2503.09656), long-term forecasting table, lookback 96"
LLM_PS_FEW = "LLM-PS (arXiv 2503.09656), few-shot (10 %) table, lookback 96"
PUBLISHED = {   # (group, dataset, row, horizon or "avg") -> (mse, mae, source)
    ("cheap", "ETTh1", "DLinear", "avg"): (0.456, 0.452, LLM_PS_LONG),
    ("cheap", "ETTh2", "DLinear", "avg"): (0.559, 0.515, LLM_PS_LONG),
    ("cheap", "ETTh1", "DLinear", 96): (0.386, 0.400, LLM_PS_LONG),
    ("cheap", "ETTh1", "PatchTST", "avg"): (0.450, 0.441, LLM_PS_LONG),
    ("cheap", "ETTh2", "PatchTST", "avg"): (0.366, 0.394, LLM_PS_LONG),
    ("cheap", "ETTh1", "LLM-PS", "avg"): (0.418, 0.420, LLM_PS_LONG),
    ("cheap", "ETTh2", "LLM-PS", "avg"): (0.350, 0.390, LLM_PS_LONG),
    ("cheap", "ETTh1", "Time-LLM (re-run by LLM-PS)", "avg"): (0.460, 0.449, LLM_PS_LONG),
    ("cheap", "ETTh1", "GPT4TS (re-run by LLM-PS)", "avg"): (0.447, 0.436, LLM_PS_LONG),
    ("full_llm", "ETTh1", "LLM-PS", 96): (0.369, None, LLM_PS_LONG),
    ("full_llm", "ETTh1", "DLinear", 96): (0.386, 0.400, LLM_PS_LONG),
    ("fewshot", "ETTh1", "LLM-PS", "avg"): (0.632, 0.546, LLM_PS_FEW),
    ("fewshot", "ETTh1", "DLinear", "avg"): (0.647, 0.552, LLM_PS_FEW),
    ("fewshot", "ETTh1", "LLM-PS", 96): (0.586, None, LLM_PS_FEW),
    ("fewshot", "ETTh1", "PatchTST", 96): (0.433, None, LLM_PS_FEW),
}
LLM_PS_PER_HORIZON = {96: 0.369, 192: 0.418, 336: 0.432, 720: 0.452}   # ETTh1, MSE, LLM_PS_LONG


@dataclass(frozen=True)
class Cell:
    group: str
    dataset: str
    row: str
    horizon: int
    percent: int
    seed: int

    @property
    def stem(self) -> str:
        safe = self.row.replace(" ", "-").replace("(", "").replace(")", "").replace("=", "")
        return f"{self.group}__{self.dataset}_{self.horizon}_p{self.percent}__{safe}__seed{self.seed}"

    def flags(self, data_root: str, expe: Path) -> list[str]:
        model = MODELS["LLM-PS"] + ABLATIONS[self.row] if self.group == "ablations" else MODELS[self.row]
        return ["--data", self.dataset, "--data_root", data_root, "--seq_len", "96", "--pred_len", str(self.horizon),
                "--percent", str(self.percent), "--seed", str(self.seed), *model,
                "--expe_dir", str(expe / self.stem)]


def grid(groups: list[str]) -> list[Cell]:
    """Every cell of the asked groups, cheap ones first; seeds outermost, so that a grid stopped
    half-way has every horizon of its first seeds."""
    cells: list[Cell] = []
    if "cheap" in groups:
        cells += [Cell("cheap", d, row, h, 100, s) for s in SEEDS for row in CHEAP
                  for d in DATASETS for h in HORIZONS if s == SEEDS[0] or row not in DETERMINISTIC]
    if "fewshot" in groups:
        cells += [Cell("fewshot", d, row, h, 10, s) for s in SEEDS
                  for row in ("DLinear", "PatchTST", "Time-LLM", "LLM-PS", *BF16_ROWS) for d in DATASETS
                  for h in (96, 336) if row not in BF16_ROWS or (d, h) == ("ETTh1", 96)]
    if "ablations" in groups:
        cells += [Cell("ablations", "ETTh1", row, 96, 10, s) for s in SEEDS for row in ABLATIONS]
    if "full_llm" in groups:
        cells += [Cell("full_llm", "ETTh1", row, 96, 100, s) for s in SEEDS for row in ("Time-LLM", "LLM-PS")]
    return cells


def run_cell(cell: Cell, data_root: str, out: Path, expe: Path) -> dict:
    """Run (or resume) one cell's forecast.py; its record, with the result JSON inside."""
    flags = cell.flags(data_root, expe)
    log = ROOT / expe / cell.stem / "bench.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    wall, peak_gb = measured([sys.executable, "forecast.py", *flags, "--resume", "True"], log)
    (result_file,) = (ROOT / expe / cell.stem / "results" / "forecast").glob("*.json")
    result = json.loads(result_file.read_text())
    record = {"cell": cell.__dict__, "flags": flags, "wall_seconds": wall, "peak_gb": peak_gb,
              "git_commit": result["git_commit"], "metrics": result["metrics"], "training": result["training"],
              "config": result["config"]}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{cell.stem}.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def load(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]


# ---- tables ---------------------------------------------------------------------------------------
def by_cell(records: list[dict]) -> dict[tuple, list[dict]]:
    """(group, dataset, row, horizon, percent) -> its seeds' records."""
    out: dict[tuple, list[dict]] = {}
    for r in records:
        c = r["cell"]
        out.setdefault((c["group"], c["dataset"], c["row"], c["horizon"], c["percent"]), []).append(r)
    return out


def stat(records: list[dict], metric: str) -> tuple[float, float, int] | None:
    return mean_std([r["metrics"][metric] for r in records]) if records else None


def published(group: str, dataset: str, row: str, horizon) -> str:
    fig = PUBLISHED.get((group, dataset, row, horizon))
    if fig is None:
        return ""
    return f"{fig[0]:.3f}" + (f" / {fig[1]:.3f}" if fig[1] is not None else "")


def cheap_table(cells: dict) -> str:
    rows = ["| dataset | model | " + " | ".join(f"{h}: MSE / MAE" for h in HORIZONS) +
            " | average MSE / MAE | published average |", "|---" * (4 + len(HORIZONS)) + "|"]
    for d in DATASETS:
        for row in CHEAP:
            per = [cells.get(("cheap", d, row, h, 100), []) for h in HORIZONS]
            if not any(per):
                continue
            parts = [f"{fmt(stat(p, 'mse'), '{:.3f}')} / {fmt(stat(p, 'mae'), '{:.3f}')}" if p else "-" for p in per]
            avg = average_over_horizons(per) if all(per) else "-"
            rows.append(f"| {d} | {row} | " + " | ".join(parts) + f" | {avg} | {published('cheap', d, row, 'avg')} |")
        for row in ("LLM-PS", "Time-LLM (re-run by LLM-PS)", "GPT4TS (re-run by LLM-PS)"):
            if ("cheap", d, row, "avg") in PUBLISHED:
                rows.append(f"| {d} | {row}, published | " + " | ".join(
                    f"{LLM_PS_PER_HORIZON[h]:.3f}" if row == "LLM-PS" and d == "ETTh1" else "" for h in HORIZONS)
                    + f" | | {published('cheap', d, row, 'avg')} |")
    return "\n".join(rows)


def average_over_horizons(per: list[list[dict]]) -> str:
    """Mean over horizons of each seed's figure, then mean ± std over seeds (deterministic rows:
    the one run)."""
    seeds = sorted({r["cell"]["seed"] for r in per[0]})
    out = []
    for metric in ("mse", "mae"):
        values = [sum(next(r for r in p if r["cell"]["seed"] == s)["metrics"][metric] for p in per) / len(per)
                  for s in seeds if all(any(r["cell"]["seed"] == s for r in p) for p in per)]
        out.append(fmt(mean_std(values), "{:.3f}") if values else "-")
    return " / ".join(out)


def detail_table(cells: dict, group: str, rows: list[str], datasets: tuple[str, ...], horizons: tuple[int, ...],
                 percent: int) -> str:
    """One line per (dataset, horizon, row): errors, size, time and memory, the published figure."""
    head = ["| dataset | horizon | model | seeds | MSE | MAE | trainable / total parameters | s / epoch | "
            "epochs run | peak memory (GB) | published MSE / MAE |", "|---" * 11 + "|"]
    lines = []
    for d in datasets:
        for h in horizons:
            for row in rows:
                recs = cells.get((group, d, row, h, percent), [])
                if not recs:
                    continue
                p = recs[0]["training"]["parameters"]
                epochs = mean_std([len(r["training"]["history"]) for r in recs])
                pub = published(group, d, row, h) or published(group, d, "LLM-PS" if group == "ablations" and
                                                               row == "LLM-PS (frozen)" else row, h)
                lines.append(
                    f"| {d} | {h} | {row} | {len(recs)} | {fmt(stat(recs, 'mse'), '{:.3f}')} | "
                    f"{fmt(stat(recs, 'mae'), '{:.3f}')} | {p['trainable']:,} / {p['total']:,} | "
                    f"{fmt(mean_std([r['training']['seconds_per_epoch'] for r in recs]), '{:.0f}')} | "
                    f"{fmt(epochs, '{:.1f}')} | {fmt(mean_std([r['peak_gb'] for r in recs]), '{:.2f}')} | {pub} |")
    return "\n".join(head + lines) if lines else "(no cells yet)"


def report(records: list[dict]) -> str:
    cells = by_cell(records)
    commits = sorted({r["git_commit"][:7] for r in records})
    return "\n".join([
        "### Full training data, lookback 96 (`cheap`)", "", cheap_table(cells), "",
        "### Few-shot: the first 10 % of the training windows, lookback 96 (`fewshot`)", "",
        detail_table(cells, "fewshot", ["DLinear", "PatchTST", "Time-LLM", "LLM-PS", *BF16_ROWS], DATASETS, (96, 336),
                     10), "",
        "### The LLM rows on all of ETTh1's training data, horizon 96 (`full_llm`)", "",
        detail_table(cells, "full_llm", ["Time-LLM", "LLM-PS"], ("ETTh1",), (96,), 100), "",
        "### Ablations: LLM-PS with one thing changed, few-shot ETTh1-96 (`ablations`)", "",
        detail_table(cells, "ablations", list(ABLATIONS), ("ETTh1",), (96,), 10), "",
        f"{len(records)} cells, code at {', '.join(commits) or '-'}.",
    ])


def write_report(out: Path, doc: Path) -> None:
    rewrite_block(doc, "forecast-grid", f"`python scripts/bench_forecast.py --report_only` wrote the tables below "
                  f"from the cells in `{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}`.\n\n"
                  f"{report(load(out))}")


# ---- the estimate -----------------------------------------------------------------------------------
def estimate(data_root: str, groups: list[str], expe: Path) -> None:
    """One timed epoch of each trained model on ETTh1-96 (the LLM ones on 10 % of the data), then
    the grid's projected CPU time: at most 10 epochs a cell, an epoch's training time in
    proportion to its training windows, validation once per epoch, the rest once."""
    probes = {}
    for row, percent in (("DLinear", 100), ("PatchTST", 100), ("Time-LLM", 10), ("LLM-PS", 10)):
        cell = Cell("estimate", "ETTh1", row, 96, percent, 1)
        log = ROOT / expe / cell.stem / "bench.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        wall, _ = measured([sys.executable, "forecast.py", *cell.flags(data_root, expe), "--epochs", "1"], log)
        (result,) = (ROOT / expe / cell.stem / "results" / "forecast").glob("*.json")
        h = json.loads(result.read_text())["training"]["history"][0]
        probes[row] = (h["seconds"] * 100 / percent, h["val_seconds"], wall - h["seconds"] - h["val_seconds"])
        print(f"{row:9s} {percent:3d} %: training {h['seconds']:7.1f} s, validation {h['val_seconds']:6.1f} s, "
              f"the rest {probes[row][2]:6.1f} s", flush=True)
    per_group: dict[str, float] = {}
    for cell in grid(groups):
        if cell.row in DETERMINISTIC:
            continue
        train_full, val, rest = probes["LLM-PS" if cell.group == "ablations" else cell.row.replace(" (bf16)", "")]
        per_group[cell.group] = per_group.get(cell.group, 0.0) + 10 * (train_full * cell.percent / 100 + val) + rest
    for group, seconds in per_group.items():
        print(f"{group:10s}: at most {seconds / 3600:5.1f} CPU hours (10 epochs a cell)")
    print(f"all       : at most {sum(per_group.values()) / 3600:5.1f} CPU hours")


@cli_main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_root", default="../shared/datasets")
    parser.add_argument("--groups", nargs="*", default=["cheap", "fewshot", "ablations", "full_llm"],
                        choices=["cheap", "fewshot", "ablations", "full_llm"])
    parser.add_argument("--rows", nargs="*", help="only these rows")
    parser.add_argument("--seeds", nargs="*", type=int, help="only these seeds")
    parser.add_argument("--out", type=Path, default=ROOT / "expe" / "results" / "bench_forecast")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "FORECASTING.md")
    parser.add_argument("--expe_dir", type=Path, default=Path("expe") / "bench_forecast")
    parser.add_argument("--max_hours", type=float, default=0, help="start no cell after this many hours (0 = no limit)")
    parser.add_argument("--estimate", action="store_true", help="time one epoch of each model; print the grid's cost")
    parser.add_argument("--report_only", action="store_true", help="rewrite the tables from the cells run so far")
    args = parser.parse_args()
    if args.estimate:
        estimate(args.data_root, args.groups, args.expe_dir)
        return
    if not args.report_only:
        t0 = time.time()
        todo = [c for c in grid(args.groups) if (not args.rows or c.row in args.rows)
                and (not args.seeds or c.seed in args.seeds)]
        missing = sorted({c.dataset for c in todo if not present(c.dataset, args.data_root)})
        if missing:
            print(f"skipped: {', '.join(missing)} not under {args.data_root}")
        todo = [c for c in todo if c.dataset not in missing]
        for i, cell in enumerate(todo, 1):
            path = args.out / f"{cell.stem}.json"
            if path.is_file() and json.loads(path.read_text())["flags"] == cell.flags(args.data_root, args.expe_dir):
                continue
            if args.max_hours and time.time() - t0 > args.max_hours * 3600:
                print(f"--max_hours {args.max_hours} reached; {len(todo) - i + 1} cells left")
                break
            print(f"[{i}/{len(todo)}] {cell.stem}", flush=True)
            rec = run_cell(cell, args.data_root, args.out, args.expe_dir)
            print(f"    MSE {rec['metrics']['mse']:.4f}  MAE {rec['metrics']['mae']:.4f}  {rec['wall_seconds']:.0f} s",
                  flush=True)
    write_report(args.out, args.doc)


if __name__ == "__main__":
    main()
