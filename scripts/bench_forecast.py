"""The forecasting grid: `forecast.py` runs under the long-horizon protocol, summarised as
mean ± std over seeds beside the published figures, into docs/FORECASTING.md.

    python scripts/bench_forecast.py --data_root ../shared/datasets --estimate   # one timed epoch each, the grid's CPU time
    python scripts/bench_forecast.py --data_root ../shared/datasets              # run (resumable), then the tables
    python scripts/bench_forecast.py --report_only                               # the tables from the committed cells

Groups (`--groups`): `cheap` (naive, seasonal naive, DLinear at its own rate and at the library's
1e-4, PatchTST; full training data; horizons 96/192/336/720), `fewshot` (DLinear, PatchTST,
Time-LLM, LLM-PS on 10 % of the training windows; horizons 96 and 336), `ablations` (LLM-PS with
one thing changed, few-shot ETTh1-96; the unchanged row is the `fewshot` cell) and `full_llm`
(Time-LLM and LLM-PS on all of ETTh1's training data, horizon 96); ETTh1 and ETTh2 throughout.

The grid runs in two tiers (`tier1`, `tier2`). Tier 1 is sized to the 2-core CPU: every row and
setting at seed 1; seeds 2-3 for DLinear and, few-shot, on ETTh1-96; the ablations at seed 1;
last, the full-data LLM rows (seed 1). Tier 2 follows as the CPU allows: the other seeds, and the
LLM rows with the frozen LLM in bfloat16 (few-shot ETTh1-96, seeds 1-3), whose comparison with
float32 the report prints.

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
from lib.hardware import machine  # noqa: E402
from lib.train.epochs import FitResult  # noqa: E402
from scripts.benchmark import (add_grid_flags, drop_emulated_bf16, emulates_bf16, fmt, fmt_peak,  # noqa: E402
                               grid_paths, machines_line, mean_std, measured, out_of_hours, present,
                               recorded_with, resumed_wall, rewrite_block, short_commits, versus, where)

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
FLOAT_ROWS = ("Time-LLM", "LLM-PS")
UNCHANGED = "LLM-PS (frozen)"   # the ablation table's first row: the few-shot ETTh1-96 LLM-PS cells
ABLATIONS = {   # row -> flags after LLM-PS's
    "no MSCNN": ["--ps_mscnn", "False"],
    "no T2T": ["--ps_t2t", "False"],
    "LoRA r=8": ["--llm_lora_r", "8"],
    "random-init LLM": ["--llm_pretrained", "False"],
    "no LLM layers (identity)": ["--llm_skip_layers", "True"],
    "one attention layer": ["--llm_one_attention", "True"],
}
DETERMINISTIC = ("naive", "seasonal naive")
FEW_ROWS = ("DLinear", "PatchTST", "Time-LLM", "LLM-PS")
FEW_HORIZONS = (96, 336)
FULL_LLM_SEEDS = (1,)
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
LLM_PS_TRAIN_SECONDS = 192   # LLM-PS's reported training time, ETTh1 96 -> 96, one RTX 4090
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


def against_noise(base: list[dict], other: list[dict], metric: str) -> str:
    """`versus` over two rows' cells: 'base m (n seeds) against other m (n): +x %, within/beyond seed noise'."""
    return versus(stat(base, metric), stat(other, metric))


def bf16_comparison(records: list[dict]) -> list[str] | None:
    """Whether bfloat16 changes the LLM rows' error beyond seed noise, and what it does to an
    epoch's time: one line per model and metric, or None until both rows have every seed on
    few-shot ETTh1-96."""
    cells = by_cell(records)
    lines = []
    for f32, b16 in zip(FLOAT_ROWS, BF16_ROWS):
        a, b = cells.get(("fewshot", "ETTh1", f32, 96, 10), []), cells.get(("fewshot", "ETTh1", b16, 96, 10), [])
        if len(a) < len(SEEDS) or len(b) < len(SEEDS):
            return None
        for metric in ("mse", "mae"):
            lines.append(f"{f32} {metric.upper()}, float32 against bfloat16: {against_noise(a, b, metric)}")
        speed = [mean_std([r["training"]["seconds_per_epoch"] for r in recs])[0] for recs in (a, b)]
        lines.append(f"{f32} seconds per epoch: float32 {speed[0]:.0f}, bfloat16 {speed[1]:.0f} "
                     f"(timed on {machines_line(a + b)})")
    return lines


def epoch_seconds(record: dict) -> float:
    """A cell's training and validation seconds, summed over its epochs' own timings, which a
    resumed run keeps from every process."""
    return FitResult(history=record["training"]["history"]).epoch_seconds()


def training_seconds(records: list[dict]) -> float:
    return mean_std([epoch_seconds(r) for r in records])[0]


def llm_comparisons(cells: dict) -> list[str]:
    """The reading's figures, computed: each LLM row few-shot against the better cheap model of the
    same setting (by mean MSE), with the cost in training seconds, and Time-LLM (LLM-PS without its
    two modules) against LLM-PS; each ablation against the unchanged LLM-PS; the full-data LLM rows
    against PatchTST. Only where both sides have cells."""
    lines = []
    for d in DATASETS:
        for h in FEW_HORIZONS:
            plain, ps = (cells.get(("fewshot", d, llm, h, 10), []) for llm in FLOAT_ROWS)
            if plain and ps:
                lines.append(f"Few-shot {d}-{h}, MSE of Time-LLM against LLM-PS: {against_noise(plain, ps, 'mse')}")
            cheap = [(row, cells[("fewshot", d, row, h, 10)]) for row in FEW_ROWS
                     if row not in FLOAT_ROWS and cells.get(("fewshot", d, row, h, 10))]
            if not cheap:
                continue
            best, recs = min(cheap, key=lambda c: stat(c[1], "mse")[0])
            for llm in FLOAT_ROWS:
                mine = cells.get(("fewshot", d, llm, h, 10), [])
                if mine:
                    lines.append(f"Few-shot {d}-{h}, MSE of {best} against {llm}: {against_noise(recs, mine, 'mse')}; "
                                 f"training {training_seconds(recs):.0f} s against {training_seconds(mine):.0f} s")
    base = cells.get(("ablations", "ETTh1", UNCHANGED, 96, 10), [])
    for row in ABLATIONS:
        recs = cells.get(("ablations", "ETTh1", row, 96, 10), [])
        if base and recs:
            lines.append(f"Ablation, few-shot ETTh1-96, MSE of LLM-PS against {row}: {against_noise(base, recs, 'mse')}")
    patch = cells.get(("cheap", "ETTh1", "PatchTST", 96, 100), [])
    for llm in FLOAT_ROWS:
        recs = cells.get(("full_llm", "ETTh1", llm, 96, 100), [])
        if patch and recs:
            lines.append(f"Full data ETTh1-96, MSE of PatchTST against {llm}: {against_noise(patch, recs, 'mse')}; "
                         f"training {training_seconds(patch):.0f} s against {training_seconds(recs):.0f} s")
    return lines


def tier1(groups: list[str]) -> list[Cell]:
    """The grid sized to the CPU, every table filled once: every row and setting at seed 1; seeds
    2-3 where the published few-shot figure and the ablations sit (ETTh1-96) and for DLinear; the
    ablations at seed 1; last, the costliest, the LLM rows on all of ETTh1's training data."""
    cells: list[Cell] = []
    if "cheap" in groups:
        cells += [Cell("cheap", d, row, h, 100, s) for s in SEEDS for row in CHEAP for d in DATASETS for h in HORIZONS
                  if s == SEEDS[0] or row.startswith("DLinear")]
    if "fewshot" in groups:
        cells += [Cell("fewshot", d, row, h, 10, s) for s in SEEDS for row in FEW_ROWS for d in DATASETS
                  for h in FEW_HORIZONS if s == SEEDS[0] or (d, h) == ("ETTh1", 96)]
    if "ablations" in groups:
        cells += [Cell("ablations", "ETTh1", row, 96, 10, SEEDS[0]) for row in ABLATIONS]
    if "full_llm" in groups:
        cells += [Cell("full_llm", "ETTh1", row, 96, 100, s) for s in FULL_LLM_SEEDS for row in FLOAT_ROWS]
    return cells


def tier2(groups: list[str]) -> list[Cell]:
    """What tier 1 leaves out, run after it as the CPU allows: the ablations' and the other
    few-shot settings' seeds 2-3, PatchTST's seeds 2-3, and the LLM rows with the frozen LLM in
    bfloat16 (few-shot ETTh1-96, seeds 1-3)."""
    later = SEEDS[1:]
    cells: list[Cell] = []
    if "ablations" in groups:
        cells += [Cell("ablations", "ETTh1", row, 96, 10, s) for s in later for row in ABLATIONS]
    if "fewshot" in groups:
        cells += [Cell("fewshot", d, row, h, 10, s) for s in later for row in FEW_ROWS for d in DATASETS
                  for h in FEW_HORIZONS if (d, h) != ("ETTh1", 96)]
    if "cheap" in groups:
        cells += [Cell("cheap", d, "PatchTST", h, 100, s) for s in later for d in DATASETS for h in HORIZONS]
    if "fewshot" in groups:
        cells += [Cell("fewshot", "ETTh1", row, 96, 10, s) for s in SEEDS for row in BF16_ROWS]
    return cells


def grid(groups: list[str]) -> list[Cell]:
    """Every cell of the asked groups: tier 1, then tier 2; seeds outermost within each, so that a
    grid stopped half-way has every setting of its first seeds."""
    return tier1(groups) + tier2(groups)


def run_cell(cell: Cell, data_root: str, out: Path, expe: Path) -> dict:
    """Run (or resume) one cell's forecast.py; its record, with the result JSON inside."""
    flags = cell.flags(data_root, expe)
    log = ROOT / expe / cell.stem / "bench.log"
    wall, peak_gb = measured([sys.executable, "forecast.py", *flags, "--resume", "True"], log)
    (result_file,) = (ROOT / expe / cell.stem / "results" / "forecast").glob("*.json")
    result = json.loads(result_file.read_text())
    record = {"cell": cell.__dict__, "flags": flags, "wall_seconds": resumed_wall(wall, result["training"]),
              "peak_gb": peak_gb,
              "git_commit": result["git_commit"], "machine": machine(), "metrics": result["metrics"],
              "training": result["training"],
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
    """The paper's figure for a row; a bf16 row is the same model."""
    fig = PUBLISHED.get((group, dataset, row.removesuffix(" (bf16)"), horizon))
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
            "epochs run | training (s) | peak memory (GB) | published MSE / MAE |", "|---" * 12 + "|"]
    lines = []
    for d in datasets:
        for h in horizons:
            for row in rows:
                recs = cells.get((group, d, row, h, percent), [])
                if not recs:
                    continue
                p = recs[0]["training"]["parameters"]
                epochs = mean_std([len(r["training"]["history"]) for r in recs])
                pub = published("fewshot", d, "LLM-PS", h) if row == UNCHANGED else published(group, d, row, h)
                lines.append(
                    f"| {d} | {h} | {row} | {len(recs)} | {fmt(stat(recs, 'mse'), '{:.3f}')} | "
                    f"{fmt(stat(recs, 'mae'), '{:.3f}')} | {p['trainable']:,} / {p['total']:,} | "
                    f"{fmt(mean_std([r['training']['seconds_per_epoch'] for r in recs]), '{:.0f}')} | "
                    f"{fmt(epochs, '{:.1f}')} | {fmt(mean_std([epoch_seconds(r) for r in recs]), '{:.0f}')} | "
                    f"{fmt_peak(recs)} | {pub} |")
    return "\n".join(head + lines) if lines else "(no cells yet)"


def bf16_text(records: list[dict]) -> str:
    lines = bf16_comparison(records)
    if lines is None:
        return "The bf16 comparison (tier 2) has not run yet."
    return "The bf16 comparison (few-shot ETTh1-96, seeds 1-3):\n\n" + "\n".join(f"- {l}" for l in lines)


def report(records: list[dict]) -> str:
    cells = by_cell(records)
    # the unchanged LLM-PS of the ablation table is the few-shot cell
    cells[("ablations", "ETTh1", UNCHANGED, 96, 10)] = cells.get(("fewshot", "ETTh1", "LLM-PS", 96, 10), [])
    commits = short_commits(records)
    return "\n".join([
        "### Full training data, lookback 96 (`cheap`)", "", cheap_table(cells), "",
        "### Few-shot: the first 10 % of the training windows, lookback 96 (`fewshot`)", "",
        detail_table(cells, "fewshot", [*FEW_ROWS, *BF16_ROWS], DATASETS, FEW_HORIZONS, 10), "",
        bf16_text(records), "",
        "### The LLM rows on all of ETTh1's training data, horizon 96, one seed (`full_llm`)", "",
        detail_table(cells, "full_llm", list(FLOAT_ROWS), ("ETTh1",), (96,), 100), "",
        f"LLM-PS reports {LLM_PS_TRAIN_SECONDS} s of training for ETTh1 96 -> 96 on one RTX 4090 ({LLM_PS_LONG.split(',')[0]}): "
        "other hardware than these 2 CPU cores, beside our training (s) column.", "",
        "### Ablations: LLM-PS with one thing changed, few-shot ETTh1-96 (`ablations`)", "",
        detail_table(cells, "ablations", [UNCHANGED, *ABLATIONS], ("ETTh1",), (96,), 10), "",
        "### Does the LLM help? The comparisons, computed", "",
        "\n".join(f"- {l}" for l in llm_comparisons(cells)) or "(no comparison has both sides yet)", "",
        f"{len(records)} cells, code at {', '.join(commits) or '-'}; timed on {machines_line(records)}.",
    ])


def write_report(out: Path, doc: Path) -> None:
    rewrite_block(doc, "forecast-grid", f"`python scripts/bench_forecast.py --report_only` wrote the tables below "
                  f"from the cells in `{where(out)}`.\n\n"
                  f"{report(load(out))}")


# ---- the estimate -----------------------------------------------------------------------------------
PROBES = (("DLinear", 100), ("PatchTST", 100), ("Time-LLM", 10), ("LLM-PS", 10), ("Time-LLM (bf16)", 10),
          ("LLM-PS (bf16)", 10))
ESTIMATE_FILE = ROOT / "expe" / "results" / "bench_forecast" / "estimate" / "probes.json"   # beside the cells


def time_probe(row: str, percent: int, data_root: str, expe: Path) -> dict:
    """One timed epoch of `row` on ETTh1-96 at `percent` % of the training windows: the training
    seconds of a full-data epoch, the validation seconds, the rest of a run, and where it ran."""
    cell = Cell("estimate", "ETTh1", row, 96, percent, 1)
    log = ROOT / expe / cell.stem / "bench.log"
    wall, _ = measured([sys.executable, "forecast.py", *cell.flags(data_root, expe), "--epochs", "1"], log)
    (result,) = (ROOT / expe / cell.stem / "results" / "forecast").glob("*.json")
    run = json.loads(result.read_text())
    h = run["training"]["history"][0]
    return {"train_full": h["seconds"] * 100 / percent, "val": h["val_seconds"],
            "rest": wall - h["seconds"] - h["val_seconds"], "git_commit": run["git_commit"],
            "timed_on": time.strftime("%Y-%m-%d"), "machine": machine()}


def project(probes: dict, cells: list[Cell]) -> tuple[dict[str, float], set[str]]:
    """(group -> projected CPU seconds, the rows with no probe): at most 10 epochs a cell, an
    epoch's training time in proportion to its training windows, validation once per epoch, the
    rest once."""
    per_group: dict[str, float] = {}
    unprobed: set[str] = set()
    for cell in cells:
        if cell.row in DETERMINISTIC:
            continue
        model = ("LLM-PS" if cell.group == "ablations" else cell.row).removesuffix(" (lr 1e-4)")
        if model not in probes:
            unprobed.add(model)
            continue
        p = probes[model]
        per_group[cell.group] = (per_group.get(cell.group, 0.0) + 10 * (p["train_full"] * cell.percent / 100 + p["val"])
                                 + p["rest"])
    return per_group, unprobed


def estimate(args: argparse.Namespace) -> None:
    """Time the probes not saved yet (all of them with --retime; only those in `--probes` where it is
    given, none for a bare `--probes`), each saved as it finishes; print them and the projected CPU
    hours of each tier, whole and still to run."""
    saved = json.loads(ESTIMATE_FILE.read_text()) if ESTIMATE_FILE.is_file() else {}
    for row, percent in PROBES:
        if (args.probes is not None and row not in args.probes) or (row in saved and not args.retime):
            continue
        if emulates_bf16(MODELS[row]):
            print(f"{row}: not timed, {machine()} has no native bfloat16 (its pace would say nothing)")
            continue
        print(f"timing one epoch of {row} ...", flush=True)
        saved[row] = time_probe(row, percent, args.data_root, args.expe_dir)
        ESTIMATE_FILE.parent.mkdir(parents=True, exist_ok=True)
        ESTIMATE_FILE.write_text(json.dumps(saved, indent=1) + "\n")
    print(f"probes ({where(ESTIMATE_FILE)}):")
    for row, percent in PROBES:
        if row in saved:
            p = saved[row]
            print(f"  {row:15s} {percent:3d} %: training {p['train_full'] * percent / 100:7.1f} s, validation "
                  f"{p['val']:6.1f} s, the rest {p['rest']:6.1f} s ({p['timed_on']}, {p['git_commit'][:7]}, "
                  f"{p.get('machine', 'machine not recorded')})")
    _, todo = pending(args)
    print("CPU hours at most (10 epochs a cell): tier, group, whole, still to run")
    for n, cells in ((1, tier1(args.groups)), (2, tier2(args.groups))):
        (whole, unprobed), (left, _) = project(saved, cells), project(saved, [c for c in cells if c in todo])
        for group in whole:
            print(f"  {n}  {group:10s} {whole[group] / 3600:6.1f} {left.get(group, 0) / 3600:6.1f}")
        print(f"  {n}  {'all':10s} {sum(whole.values()) / 3600:6.1f} {sum(left.values()) / 3600:6.1f}"
              + (f"  (not counted: {', '.join(sorted(unprobed))}, no probe)" if unprobed else ""))


def pending(args: argparse.Namespace) -> tuple[list[Cell], list[Cell]]:
    """(the asked cells on data present, those of them still to run)."""
    cells = [c for c in grid(args.groups) if (not args.rows or c.row in args.rows)
             and (not args.seeds or c.seed in args.seeds) and present(c.dataset, args.data_root)]

    def done(c: Cell) -> bool:
        return recorded_with(args.out / f"{c.stem}.json", c.flags(args.data_root, args.expe_dir)) is not None
    return cells, [c for c in cells if not done(c)]


def run_grid(args: argparse.Namespace) -> None:
    """Run the pending cells one at a time, in the grid's order."""
    t0 = time.time()
    missing = sorted({d for d in DATASETS if not present(d, args.data_root)})
    if missing:
        print(f"skipped: {', '.join(missing)} not under {args.data_root}")
    cells, todo = pending(args)
    n_done = len(cells) - len(todo)
    todo = drop_emulated_bf16(todo, lambda c: c.flags(args.data_root, args.expe_dir))
    for i, cell in enumerate(todo):
        if out_of_hours(t0, args.max_hours, len(todo) - i):
            break
        print(f"[{n_done + i + 1}/{len(cells)}] {cell.stem}", flush=True)
        rec = run_cell(cell, args.data_root, args.out, args.expe_dir)
        print(f"    MSE {rec['metrics']['mse']:.4f}  MAE {rec['metrics']['mae']:.4f}  {rec['wall_seconds']:.0f} s",
              flush=True)


@cli_main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_grid_flags(parser, "expe/results/bench_forecast", "docs/FORECASTING.md", "expe/bench_forecast",
                   quick=False, data_root="../shared/datasets", max_hours=True)
    parser.add_argument("--groups", nargs="*", default=["cheap", "fewshot", "ablations", "full_llm"],
                        choices=["cheap", "fewshot", "ablations", "full_llm"])
    parser.add_argument("--estimate", action="store_true", help="print the grid's projected cost from one timed "
                        "epoch of each model (timed now if none is saved)")
    parser.add_argument("--retime", action="store_true", help="with --estimate: time the saved probes again")
    parser.add_argument("--probes", nargs="*", choices=[r for r, _ in PROBES], help="with --estimate: time only these (none: print the saved ones)")
    args = parser.parse_args()
    args.out, args.doc, args.expe_dir = grid_paths(args, "bench_forecast", "FORECASTING.md", blocks=True)
    if args.estimate:
        estimate(args)
        return
    if not args.report_only:
        run_grid(args)
    write_report(args.out, args.doc)


if __name__ == "__main__":
    main()
