"""Benchmarks and ablations: a grid of `run.py` + `test.py` runs under one protocol,
summarised as mean ± std over seeds.

    python scripts/benchmark.py --data_root ../shared/datasets                  # docs/RESULTS.md
    python scripts/benchmark.py --grid ablations --data_root ../shared/datasets # docs/ABLATIONS.md
    python scripts/benchmark.py --quick                                         # CI: one seed, tiny sizes

Every cell (dataset, entity, detector, seed) trains and scores in its own
processes, so wall time and peak memory (the processes' maximum resident
set) are its own. Each finished cell writes `<out>/<grid>/<cell>.json`; a
rerun skips the cells already there with the same flags, so an interrupted
grid continues where it stopped. Datasets absent from --data_root are
skipped with a message. The markdown (and, for the full main grid, the
README's results block) is rewritten from all the cell files at the end;
`--report_only` rewrites it without running anything. To check that cells
reproduce, move their JSONs aside, rerun, and `--compare` the two: it lists
each quality metric that changed (timing and memory are not compared).
Where only an earlier report's table survives, `--compare_table OLD.md` sets
the cells' means beside it, row by row, and gives the largest differences.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.config import Config  # noqa: E402
from lib.errors import UserError, cli_main  # noqa: E402
from lib.hardware import machine, native_bf16  # noqa: E402
from lib.train.checkpoint import git_commit  # noqa: E402
from lib.train.epochs import FitResult  # noqa: E402

# ---- what runs ---------------------------------------------------------------------------------
LLM = ["--pred_model", "llm"]
DETECTORS = {   # the main grid: name -> run.py flags
    "gat+ae": ["--pred_model", "gat", "--recon_model", "ae"],
    "gat+mamba": ["--pred_model", "gat", "--recon_model", "mamba"],
    "llm+mamba": [*LLM, "--recon_model", "mamba"],
    "llm+ae": [*LLM, "--recon_model", "ae"],
}
# The ablations change one thing of the main grid's llm+mamba at a time. The base feeds the LLM
# the raw channel alone: MAS input makes every series C=5 channels of P patches, 5 times the LLM's
# tokens (and more than 5 times its time: attention grows with the square), so only the row that
# tests it pays that. Cheap rows first, so that a grid stopped half-way has them.
ABLATION_BASE = [*LLM, "--recon_model", "mamba"]
ABLATIONS = {   # name -> run.py flags after the base and the protocol's LLM flags (so they win)
    "prompt dataset (base)": [],
    "prompt none": ["--llm_prompt_mode", "none"],
    "random-init LLM": ["--llm_pretrained", "False"],
    "no LLM layers (identity)": ["--llm_skip_layers", "True"],
    "prompt stats_short": ["--llm_prompt_mode", "stats_short"],
    "prompt stats": ["--llm_prompt_mode", "stats"],
    "MAS input": ["--is_mas", "True", "--llm_use_mas", "True"],   # the MAS channels exist only with --is_mas
}
# The rows that answer "does the LLM help" (the base and its controls) run at every seed before the
# others; the others (statistics prompts, MAS input: hours a cell on MSL) run at the first seed, then
# at the rest, so a stopped grid has the answer over seeds and every row once.
EVERY_SEED_FIRST = ("prompt dataset (base)", "prompt none", "random-init LLM", "no LLM layers (identity)")


@dataclass(frozen=True)
class Protocol:
    """One budget, applied to every detector of a table."""
    datasets: dict[str, list[str]]     # dataset -> entities ("" = the whole dataset)
    seeds: list[int]
    train: list[str]                   # run.py flags shared by every detector
    llm: list[str]                     # extra flags of the LLM rows (run.py and test.py)
    test: list[str]                    # extra test.py flags of the main grid's LLM rows
    ablation_test: list[str]           # extra test.py flags of the ablation grid's LLM rows
    ablation_datasets: dict[str, list[str]]   # dataset -> entities of the ablation grid
    note: str
    dataset_flags: dict[str, list[str]] = field(default_factory=dict)   # after `train`, so they win

    def grid_datasets(self, grid: str) -> dict[str, list[str]]:
        """The datasets (-> entities) of the main grid or of the ablation grid."""
        return self.datasets if grid == "main" else self.ablation_datasets

    def test_flags(self, grid: str) -> list[str]:
        """The extra test.py flags of the main grid's or the ablation grid's LLM rows."""
        return self.test if grid == "main" else self.ablation_test


FULL = Protocol(
    datasets={"SMD": ["machine-1-2", "machine-2-1", "machine-3-2"], "MSL": [""], "SMAP": [""], "SKAB": [""],
              "synthetic": [""]},
    seeds=[1, 2, 3],
    train=["--epochs", "2", "--max_train_windows", "500", "--max_val_windows", "200", "--down_len", "5",
           "--batch_size", "32"],
    dataset_flags={"SMAP": ["--down_len", "10"]},
    llm=["--llm_layers", "3", "--llm_prompt_mode", "dataset"],
    test=["--llm_dtype", "bfloat16"],
    # the same scores as bfloat16 to the F1 (docs/LLM.md), on any CPU, where bfloat16 is fast only on some
    ablation_test=["--llm_dtype", "float32"],
    ablation_datasets={"SMD": ["machine-1-2"], "MSL": [""]},
    note="""Sized for a 2-core CPU, the same for every detector: every series is down-sampled by 5
(SMAP, the longest, by 10) with `--down_len` (the median of each block of steps, the max of its
labels); each of 2 epochs (the second with the adversarial term) trains on 500 evenly spaced
windows, from an offset drawn per epoch from the seed, in batches of 32; the validation loss uses
200 evenly spaced windows; the test set is scored whole. Scoring is STAMP's (docs/SCORING.md):
PA-F1, P and R over window scores and window labels at the down-sampled resolution; every other
column over the original steps; the label-free POT is calibrated on all consecutive validation
windows, and its F1 is left out ('-') where POT fell back to its quantile. SMD: machines 1-2,
2-1 and 3-2 (the first of each machine group in our copy), each trained and scored on its own,
metrics averaged over the three. MSL and SMAP: all channels concatenated (one model per
spacecraft). SKAB: trained on the anomaly-free run, tested on all runs concatenated. The LLM rows
use the bundled SmolLM2-135M with its first 3 layers and the dataset prompt, trained in float32
and scored in bfloat16; the ablations' LLM rows are scored in float32, which gives the same F1
as bfloat16 scoring (docs/LLM.md) on any CPU, where bfloat16 is fast only on CPUs that compute
it natively. The ablations use SMD machine-1-2 alone, and MSL; each row changes one
thing of llm+mamba, whose LLM sees the raw channel only; the MAS row adds the moving-average
channels (`--is_mas True --llm_use_mas True`), which multiplies the LLM's tokens by 5. Scoring
weights are `lib/config.py`'s defaults (alpha = {c.test_alpha}, beta = {c.test_beta},
gamma = {c.test_gamma}, top-k = {c.topk}) for every dataset, fixed before any result was seen; no
per-dataset tuning.""".format(c=Config()))

QUICK = Protocol(
    datasets={"synthetic": [""]},
    seeds=[1],
    train=["--epochs", "1", "--max_train_windows", "64", "--max_val_windows", "64", "--syn_train_len", "1500",
           "--syn_test_len", "800", "--syn_features", "4", "--batch_size", "32"],
    llm=["--llm_layers", "1", "--llm_prompt_mode", "dataset"],
    test=["--llm_dtype", "auto"],   # its figures mean nothing: the fast dtype of this machine
    ablation_test=["--llm_dtype", "auto"],
    ablation_datasets={"synthetic": [""]},
    note="`--quick`: one seed, one epoch of 64 windows, a 4-feature synthetic series, one LLM layer. "
         "It proves the script runs; its figures mean nothing.")

# The columns of the tables: (key in a cell's metrics, header, format).
COLUMNS = (("f1", "PA-F1", "{:.3f}"), ("precision", "P", "{:.3f}"), ("recall", "R", "{:.3f}"),
           ("f1_no_pa", "F1 no-PA", "{:.3f}"), ("pa_k_auc", "PA%K-AUC", "{:.3f}"), ("aff_f1", "aff-F1", "{:.3f}"),
           ("auc_roc", "AUC-ROC", "{:.3f}"),
           ("vus_pr", "VUS-PR", "{:.3f}"), ("pot_f1", "POT F1", "{:.3f}"), ("pot_fit", "POT fitted", "{:.0%}"),
           ("epoch1", "epoch 1 kept", "{:.0%}"), ("pred_mae", "pred MAE", "{:.4f}"),
           ("train_s", "train s", "{:.0f}"), ("windows_per_s", "windows/s", "{:.0f}"), ("peak_gb", "peak GB", "{:.2f}"))


@dataclass(frozen=True)
class Cell:
    grid: str
    dataset: str
    entity: str
    detector: str
    seed: int

    @property
    def stem(self) -> str:
        return cell_stem(self.dataset, self.entity, self.detector, self.seed)


def cell_stem(dataset: str, entity: str, name: str, seed: int) -> str:
    """A file name for one cell of a grid, in either grid script."""
    data = f"{dataset}_{entity}" if entity else dataset
    return f"{data}__{name}__seed{seed}".replace(" ", "_").replace("/", "-").replace("(", "").replace(")", "") \
        .replace("+", "-").replace(",", "")


def detector_flags(grid: str, detector: str, proto: Protocol) -> list[str]:
    """run.py flags of a detector (main grid) or an ablation row; a row's own flags come last, so
    that they override the protocol's (argparse keeps the last of a repeated flag)."""
    if grid == "main":
        flags = DETECTORS[detector]
        return [*flags, *(proto.llm if "llm" in flags else [])]
    return [*ABLATION_BASE, *proto.llm, *ABLATIONS[detector]]


def cell_flags(cell: Cell, proto: Protocol, data_root: str, expe: Path) -> tuple[list[str], list[str]]:
    """(run.py flags, test.py flags) of one cell."""
    common = ["--data", cell.dataset, *(["--entity", cell.entity] if cell.entity else []),
              *(["--data_root", data_root] if data_root else []), "--seed", str(cell.seed),
              "--expe_dir", str(expe), *proto.train, *proto.dataset_flags.get(cell.dataset, [])]
    model = detector_flags(cell.grid, cell.detector, proto)
    extra_test = [*(proto.test_flags(cell.grid) if "llm" in model else []),
                  *(["--baselines"] if cell.grid == "main" and cell.detector == "gat+ae" else [])]
    return [*common, *model], [*common, *model, *extra_test]


# ---- running -----------------------------------------------------------------------------------
def machines_line(records: list[dict], hours: bool = False) -> str:
    """Which machines the records' timings come from, with how many cells each (and, with `hours`,
    the hours of their `wall_seconds`)."""
    counts, wall = Counter(), Counter()
    for r in records:
        m = r.get("machine", "a machine not recorded")
        counts[m] += 1
        wall[m] += r.get("wall_seconds", 0.0) / 3600
    return "; ".join(f"{m} ({n} cell{'s' * (n != 1)}" + (f", {wall[m]:.1f} h" if hours else "") + ")"
                     for m, n in sorted(counts.items())) or "-"


def measured(cmd: list[str], log: Path) -> tuple[float, float]:
    """Run `cmd` (output appended to `log`, its folder made); its wall seconds and peak resident memory in GB."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log.read_text().strip().splitlines()[-1:] or [""]
        raise UserError(f"{' '.join(cmd[1:3])} ... failed (exit {proc.returncode}): {tail[0][:200]}; see {log}")
    return seconds, usage.ru_maxrss / 2**20   # ru_maxrss is in KiB on Linux


def metrics_of(judged: dict) -> dict[str, float]:
    """The table's metrics from a result JSON's metrics / beyond_pa / label_free blocks. POT F1 is
    NaN where POT had no tail to fit and fell back to a quantile (`pot_fit` 0): never a quantile's
    F1 under POT's name."""
    m, extra, pot = judged["metrics"], judged["beyond_pa"], judged["label_free"]["pot"]
    fitted = pot.get("method") == "pot"
    return {"f1": m["f1"], "precision": m["precision"], "recall": m["recall"], "f1_no_pa": extra["no_pa"]["f1"],
            "pa_k_auc": extra["pa_k"]["auc"], "aff_f1": extra["affiliation"]["f1"], "auc_roc": extra["auc_roc"],
            "vus_pr": extra["vus_pr"], "pot_f1": pot["no_pa"]["f1"] if fitted else float("nan"),
            "pot_fit": float(fitted)}


def train_or_reuse(cmd: list[str], expe: Path, log: Path) -> tuple[float, float]:
    """run.py's wall seconds and peak GB for the cell in `expe`: measured now, or read back from a
    run.py that finished there before with the same flags, code and machine (a grid stopped while
    scoring then reruns the scoring alone)."""
    mark = expe / "trained.json"
    key = {"flags": cmd[1:], "git_commit": git_commit(), "machine": machine()}
    if mark.is_file() and not key["git_commit"].endswith("+dirty"):
        saved = json.loads(mark.read_text())
        if saved["key"] == key:
            with log.open("a") as out:
                out.write(f"training finished here before ({saved['train_s']:.0f} s): scoring only\n")
            return saved["train_s"], saved["train_gb"]
    mark.unlink(missing_ok=True)
    train_s, train_gb = measured(cmd, log)
    mark.write_text(json.dumps({"key": key, "train_s": train_s, "train_gb": train_gb}))
    return train_s, train_gb


def run_cell(cell: Cell, proto: Protocol, data_root: str, expe_root: Path) -> dict:
    train_flags, test_flags = cell_flags(cell, proto, data_root, expe_root / cell.grid / cell.stem)
    expe = ROOT / expe_root / cell.grid / cell.stem   # the runs' cwd is ROOT; a relative expe_root is under it
    expe.mkdir(parents=True, exist_ok=True)
    log = expe / "benchmark.log"
    train_s, train_gb = train_or_reuse([sys.executable, "run.py", *train_flags], expe, log)
    _, test_gb = measured([sys.executable, "test.py", *test_flags], log)
    result = json.loads(next((expe / "results").glob("*.json")).read_text())
    return {"cell": cell.__dict__, "protocol_version": PROTOCOL_VERSION, "flags": {"run": train_flags, "test": test_flags},
            "git_commit": result["git_commit"], "machine": machine(), "config": result["config"],
            "trained_epoch": result["trained_epoch"],
            "metrics": {**metrics_of(result), "epoch1": float(result["trained_epoch"] == 1),
                        "pred_mae": result["test_errors"]["pred_mae"], "train_s": train_s,
                        "windows_per_s": result["inference"]["windows_per_s"],
                        "peak_gb": max(train_gb, test_gb)},
            "memory_gb": {"train": train_gb, "test": test_gb},   # which process the peak was
            "baselines": {name: metrics_of(b) for name, b in result.get("baselines", {}).items()}}


def present(dataset: str, data_root: str) -> bool:
    from lib.data.registry import dataset_folder, get_spec

    try:
        dataset_folder(get_spec(dataset), Config(data=dataset, data_root=data_root).resolved_data_root())
        return True
    except UserError:
        return False


def shell_words(values: Iterable) -> str:
    """Values as they would be typed after a flag: quoted where a name has spaces or commas."""
    return " ".join(shlex.quote(str(v)) for v in values)


def picked(flag: str, grid: Iterable, asked: list | None) -> list:
    """The grid's datasets, seeds or rows that a filter flag (`--datasets`, `--seeds`, `--rows`) asks
    for, in the grid's order; all of them when it names none. A value the grid lacks is one line, not a
    grid that silently runs nothing."""
    grid = list(grid)
    unknown = [a for a in asked or [] if a not in grid]
    if unknown:
        raise UserError(f"{flag} {shell_words(unknown)}: the grid's {flag[2:]} are {shell_words(grid)}")
    return [g for g in grid if not asked or g in asked]


def plan(grid: str, proto: Protocol, data_root: str, only: list[str] | None,
         seeds: list[int] | None = None, rows: list[str] | None = None) -> list[Cell]:
    datasets = proto.grid_datasets(grid)
    detectors = picked("--rows", DETECTORS if grid == "main" else ABLATIONS, rows)
    found = {}
    for dataset in picked("--datasets", datasets, only):
        if not present(dataset, data_root):
            print(f"{dataset}: not found under --data_root, skipped", file=sys.stderr)
            continue
        found[dataset] = datasets[dataset]
    # Seed by seed, so that a stopped main grid has whole seeds of every dataset.
    cells = [Cell(grid, dataset, e, d, s) for s in picked("--seeds", proto.seeds, seeds)
             for dataset, entities in found.items() for d in detectors for e in entities]
    if grid == "ablations":   # a stable sort: seed by seed within a row
        first = min((c.seed for c in cells), default=0)
        cells.sort(key=lambda c: (c.detector not in EVERY_SEED_FIRST and c.seed != first,
                                  detectors.index(c.detector)))
    return cells


def recorded_with(path: Path, flags) -> dict | None:
    """The cell record at `path` if there is one and it ran with `flags`; else None."""
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record if record["flags"] == flags else None


def already_run(path: Path, flags: tuple[list[str], list[str]]) -> bool:
    """Whether `path` holds this cell, run with these flags under the current protocol."""
    record = recorded_with(path, {"run": flags[0], "test": flags[1]})
    return record is not None and record.get("protocol_version") == PROTOCOL_VERSION


def resumed_wall(wall: float, training: dict) -> float:
    """A cell's wall seconds (`wall`, of its last process) with the epochs of the processes
    before a resume added, from its result's `training` record."""
    return wall + FitResult(history=training.get("history", []),
                            resumed_epochs=training.get("resumed_after_epoch", 0)).earlier_seconds()


def resumed_peak(peak_gb: float, training: dict) -> tuple[float, bool]:
    """A cell's peak GB (`peak_gb`, of its last process) with the earlier processes' that their
    epochs recorded (from its result's `training` record), and whether that covers every process:
    not where an earlier epoch was recorded without its peak."""
    earlier = FitResult(history=training.get("history", []),
                        resumed_epochs=training.get("resumed_after_epoch", 0)).earlier_peak_gb()
    return (peak_gb, False) if np.isnan(earlier) else (max(peak_gb, earlier), True)


def fmt_peak(recs: list[dict]) -> str:
    """The cells' peak GB as `fmt` prints it (`resumed_peak` of each), '≥' before it where some
    cell's earlier processes are not covered."""
    peaks = [resumed_peak(r["peak_gb"], r["training"]) for r in recs]
    text = fmt(mean_std([gb for gb, _ in peaks]), "{:.2f}")
    return text if all(whole for _, whole in peaks) else "≥ " + text


def runs_bf16(flags: list[str]) -> bool:
    """Whether these flags run the LLM in bfloat16. The last --llm_dtype counts, as argparse reads it."""
    dtypes = [flags[i + 1] for i, f in enumerate(flags[:-1]) if f == "--llm_dtype"]
    return bool(dtypes) and dtypes[-1] == "bfloat16"


def emulates_bf16(flags: list[str]) -> bool:
    """Whether these flags run the LLM in bfloat16 on a machine that emulates it, where one cell
    would take hours and its pace say nothing."""
    return runs_bf16(flags) and not native_bf16()


def drop_emulated_bf16(todo: list, flags_of) -> list:
    """`todo` less the cells whose flags (`flags_of(cell)`) `emulates_bf16`; one line says how many."""
    emulated = [c for c in todo if emulates_bf16(flags_of(c))]
    if emulated:
        print(f"skipped: {len(emulated)} cells with the LLM in bfloat16, which {machine()} emulates many times "
              "slower than float32; they run on a machine with native bfloat16")
    return [c for c in todo if c not in emulated]


def out_of_hours(t0: float, max_hours: float, left: int) -> bool:
    """Whether `max_hours` (0: no limit) have passed since `t0`; if so, one line says how many cells are left."""
    if not max_hours or time.time() - t0 <= max_hours * 3600:
        return False
    print(f"--max_hours {max_hours} reached; {left} cell{'s' if left != 1 else ''} left", flush=True)
    return True


def run_grid(cells: list[Cell], proto: Protocol, data_root: str, out: Path, expe_root: Path) -> None:
    from tqdm import tqdm

    if any(emulates_bf16(proto.test_flags(g)) for g in {c.grid for c in cells}):
        print(f"warning: the protocol scores the LLM rows in bfloat16, which {machine()} emulates many times "
              "slower than float32; a CPU with AVX-512 bf16 or AMX, or a GPU, runs them at full speed", file=sys.stderr)
    for i, cell in enumerate(tqdm(cells, desc="cells", disable=None)):
        path = out / cell.grid / f"{cell.stem}.json"
        flags = cell_flags(cell, proto, data_root, expe_root / cell.grid / cell.stem)
        if already_run(path, flags):
            continue
        print(f"[{i + 1}/{len(cells)}] {cell.dataset} {cell.entity} {cell.detector} seed {cell.seed}", file=sys.stderr)
        record = run_cell(cell, proto, data_root, expe_root)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1))


# ---- tables ------------------------------------------------------------------------------------
def summarise(records: list[dict], datasets: dict[str, list[str]]) -> dict[tuple[str, str], dict]:
    """(dataset, detector) -> {metric: (mean, std, seeds)}: entities averaged within a seed (train
    time summed, peak memory maxed), then mean ± std over the seeds whose every entity finished.
    The baselines of each `gat+ae` cell become rows `baseline <name>`."""
    per_seed: dict[tuple[str, str, int], dict[str, dict]] = {}
    for r in records:
        c = r["cell"]
        rows = {c["detector"]: r["metrics"], **{f"baseline {n}": m for n, m in r["baselines"].items()}}
        for det, m in rows.items():
            per_seed.setdefault((c["dataset"], det, c["seed"]), {})[c["entity"]] = m
    out: dict[tuple[str, str], dict] = {}
    for (dataset, det, seed), by_entity in per_seed.items():
        if set(by_entity) != set(datasets.get(dataset, by_entity)):
            continue   # a partly run seed is left out rather than averaged over fewer entities
        ms = list(by_entity.values())
        combined = {k: float(np.mean([m.get(k, np.nan) for m in ms])) for k in ms[0]}
        for k, agg in (("train_s", np.sum), ("peak_gb", np.max)):
            if k in ms[0]:
                combined[k] = float(agg([m[k] for m in ms]))
        out.setdefault((dataset, det), {}).setdefault("seeds", []).append(combined)
    return {key: {k: mean_std([s[k] for s in d["seeds"]]) for k in d["seeds"][0]} for key, d in out.items()}


def mean_std(values: list[float]) -> tuple[float, float, int]:
    """Mean, sample std (NaN for a single value) and count: the triple `fmt` prints."""
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else float("nan"), len(values)


def fmt(stat: tuple[float, float, int] | None, f: str) -> str:
    """'mean ± std'; a share ('%' format) as its mean alone; '-' where there is nothing (or a NaN
    mean: some cell had no value, as a POT F1 where POT fell back)."""
    if stat is None or np.isnan(stat[0]):
        return "-"
    mean, std, _ = stat
    return f.format(mean) + ("" if np.isnan(std) or "%" in f else " ± " + f.format(std))


def markdown_table(summary: dict, detectors: list[str], datasets: list[str]) -> str:
    head = ["data", "detector", "seeds", *(h for _, h, _ in COLUMNS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for dataset in datasets:
        for det in detectors:
            s = summary.get((dataset, det))
            if s is None:
                continue
            n = next(iter(s.values()))[2]
            lines.append("| " + " | ".join([dataset, det, str(n), *(fmt(s.get(k), f) for k, _, f in COLUMNS)]) + " |")
    return "\n".join(lines)


def headline(summary: dict, datasets: list[str]) -> str:
    """Per dataset: STAMP, the LLM (llm+mamba) and the best baseline by VUS-PR, PA-F1 and VUS-PR each."""
    lines = ["| data | STAMP gat+ae PA-F1 | VUS-PR | LLM llm+mamba PA-F1 | VUS-PR | best baseline | PA-F1 | VUS-PR |",
             "|---|---|---|---|---|---|---|---|"]
    for dataset in datasets:
        base = {d: s for (ds, d), s in summary.items() if ds == dataset and d.startswith("baseline")}
        if (dataset, "gat+ae") not in summary:
            continue
        best = max(base, key=lambda d: base[d]["vus_pr"][0]) if base else None
        cells = [dataset]
        for s in (summary.get((dataset, "gat+ae")), summary.get((dataset, "llm+mamba"))):
            cells += [fmt(s and s["f1"], "{:.3f}"), fmt(s and s["vus_pr"], "{:.3f}")]
        cells += [best.removeprefix("baseline ") if best else "-", fmt(best and base[best]["f1"], "{:.3f}"),
                  fmt(best and base[best]["vus_pr"], "{:.3f}")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


BASE_ROW = next(iter(ABLATIONS))   # every other row changes one thing of it
CONTRASTED = (("vus_pr", "VUS-PR"), ("f1", "PA-F1"), ("f1_no_pa", "F1 no-PA"))
COSTS = (("train_s", "train s"), ("windows_per_s", "windows/s"), ("peak_gb", "peak GB"))


def seed_noise(*stats: tuple[float, float, int]) -> float:
    """The noise a gap between rows is read against: the larger seed std among the rows' (mean, std,
    seeds) stats that have more than one seed; NaN where none has."""
    stds = [std for _, std, n in stats if n > 1]
    return max(stds) if stds else float("nan")


def versus(base: tuple[float, float, int], other: tuple[float, float, int], relative: bool = True) -> str:
    """'0.500 (3 seeds) against 0.520 (1 seed): +4.0 %, within seed noise (0.030; the other row has
    1 seed)': `other`'s mean against `base`'s, the gap relative (or absolute, `relative=False`), and
    whether it exceeds `seed_noise`, which a one-seed row does not inform."""
    (ma, _, na), (mb, _, nb) = base, other
    noise = seed_noise(base, other)
    # a gap read against one row's spread alone is a weaker test: say so where it is made
    lone = "; the other row has 1 seed" if min(na, nb) == 1 else ""
    said = ("seed noise not measured" if np.isnan(noise) else
            f"{'within' if abs(mb - ma) <= noise else 'beyond'} seed noise ({noise:.3f}{lone})")
    gap = f"{100 * (mb - ma) / ma:+.1f} %" if relative else f"{mb - ma:+.3f}"
    return f"{ma:.3f} ({na} seed{'s' * (na > 1)}) against {mb:.3f} ({nb} seed{'s' * (nb > 1)}): {gap}, {said}"


def signed_gap(row: tuple[float, float, int], base: tuple[float, float, int]) -> str:
    """'+0.003 (0.004)': the row's mean minus the base's, beside their `seed_noise` ('-' where not measured)."""
    noise = seed_noise(row, base)
    return f"{row[0] - base[0]:+.3f} ({'-' if np.isnan(noise) else f'{noise:.3f}'})"


def machines_by_row(records: list[dict]) -> dict[tuple[str, str], frozenset[str]]:
    """(dataset, detector) -> the machines its cells were timed on."""
    seen: dict[tuple[str, str], set[str]] = {}
    for r in records:
        seen.setdefault((r["cell"]["dataset"], r["cell"]["detector"]), set()).add(r.get("machine", "?"))
    return {key: frozenset(ms) for key, ms in seen.items()}


def one_machine(machines: dict[tuple[str, str], frozenset[str]], *keys: tuple[str, str]) -> bool:
    """Whether every cell of these rows was timed on one and the same machine."""
    return len(frozenset().union(*(machines.get(k, frozenset({"?"})) for k in keys))) == 1


def against_base(summary: dict, rows: list[str], datasets: list[str],
                 machines: dict[tuple[str, str], frozenset[str]] | None = None) -> str:
    """Each ablation against the base row: quality gaps beside their noise, and costs as multiples
    of the base's. Each side is the mean over its own seeds, whose counts the row shows. Given the
    rows' `machines`, a cost multiple whose two rows were not all timed on one machine is marked †."""
    head = ["data", "row", "seeds", *(f"{h} gap (std)" for _, h in CONTRASTED), *(f"{h} x base" for _, h in COSTS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for dataset in datasets:
        base = summary.get((dataset, BASE_ROW))
        for row in rows:
            s = summary.get((dataset, row))
            if base is None or s is None or row == BASE_ROW:
                continue
            seeds = f"{s['f1'][2]} / {base['f1'][2]}"
            gaps = [signed_gap(s[k], base[k]) for k, _ in CONTRASTED]
            mixed = machines is not None and not one_machine(machines, (dataset, row), (dataset, BASE_ROW))
            costs = [f"{s[k][0] / base[k][0]:.2f}" + "†" * mixed for k, _ in COSTS]
            lines.append("| " + " | ".join([dataset, row, seeds, *gaps, *costs]) + " |")
    return "\n".join(lines)


# The scoring protocol the cells ran under; a cell of another version is rerun, and left out of the
# tables. 2: STAMP-faithful scoring (window labels, whole-window errors, test-error normalisation,
# no clipping), POT on consecutive validation windows, exact F1 without PA, per-epoch offsets.
PROTOCOL_VERSION = 2


def load_records(folder: Path) -> list[dict]:
    """The cells of `folder` run under the current PROTOCOL_VERSION."""
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    return [r for r in records if r.get("protocol_version") == PROTOCOL_VERSION]


MACHINE_BOUND = ("train_s", "windows_per_s", "peak_gb")   # depend on the machine and its load, not the code


def quality(record: dict) -> dict[str, float]:
    """A cell's metrics that its code and data decide: the detector's and its baselines' (as
    'iforest vus_pr'), without the timing and memory columns."""
    own = {k: v for k, v in record["metrics"].items() if k not in MACHINE_BOUND}
    return own | {f"{b} {k}": v for b, m in record.get("baselines", {}).items() for k, v in m.items()}


def equal(x, y) -> bool:
    return x == y or (isinstance(x, float) and isinstance(y, float) and x != x and y != y)   # NaN == NaN here


def differences(before: dict, after: dict) -> list[str]:
    """'metric a -> b' for each quality metric on which two records of one cell differ. Exact
    equality: on one CPU a rerun of the same code, data and seed has so far given the same bits."""
    a, b = quality(before), quality(after)
    return [f"{k} {a.get(k)} -> {b.get(k)}" for k in sorted(a.keys() | b.keys()) if not equal(a.get(k), b.get(k))]


def short_commit(record: dict) -> str:
    commit = record.get("git_commit", "?")
    return commit[:8] + ("+dirty" if commit.endswith("+dirty") else "")


def compare_runs(before: Path, after: Path) -> tuple[list[str], bool]:
    """One line per cell JSON in `before` (an earlier run, moved aside): 'same' when the cell of
    that name in `after` has every quality metric equal, else what differs; a closing count; and
    whether every cell was the same."""
    paths = sorted(before.glob("*.json"))
    if not paths:
        raise UserError(f"--compare {before}: no cell JSONs there")
    lines, same = [], 0
    for path in paths:
        twin = after / path.name
        if not twin.is_file():
            lines.append(f"{path.stem}: not run under {after}")
            continue
        old, new = json.loads(path.read_text()), json.loads(twin.read_text())
        diff = differences(old, new)
        same += not diff
        commits = f"(code {short_commit(old)} -> {short_commit(new)})"
        lines.append(f"{path.stem}: {'DIFFERS ' + '; '.join(diff) if diff else 'same'} {commits}")
    lines.append(f"{same} of {len(paths)} cells the same in every quality metric (timing and memory not compared)")
    return lines, same == len(paths)


def parse_table(text: str) -> dict[tuple[str, str], dict[str, tuple[float, float, int]]]:
    """An earlier report's 'All rows' table read back into `summarise`'s form: (dataset, row) ->
    {metric: (mean, std, seeds)}, std NaN where the table gives none. Other tables are skipped."""
    keys = {header: key for key, header, _ in COLUMNS}
    head, out = None, {}
    for line in text.splitlines():
        if not line.startswith("| "):
            continue   # prose, or a table's |---| line
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:3] == ["data", "detector", "seeds"]:
            head = cells
            continue
        if head is None or len(cells) != len(head):
            head = None   # a row of another table
            continue
        row = dict(zip(head, cells))
        n = int(row["seeds"])
        out[(row["data"], row["detector"])] = {
            keys[h]: (float(v.partition("±")[0]), float(v.partition("±")[2] or "nan"), n)
            for h, v in row.items() if h in keys and v != "-"}
    return out


def compare_tables(then: dict, now: dict) -> list[str]:
    """Each row both hold, metric by metric, as 'now (seeds) / then ± std (seeds)'; then per metric
    the largest difference of the means (quality metrics) or the range of now/then (timing and
    memory), with the row it occurs on."""
    common = [key for key in now if key in then]
    if not common:
        raise UserError("--compare_table: no row of the table is among the cells run")
    lines, spread = [], {}
    for key in common:
        parts = []
        for k, header, f in COLUMNS:
            if k not in now[key] or k not in then[key]:
                continue
            (m, _, n), (m0, s0, n0) = now[key][k], then[key][k]
            parts.append(f"{header} {f.format(m)} ({n}) / {fmt((m0, s0, n0), f)} ({n0})")
            change = m / m0 if k in MACHINE_BOUND and m0 else m - m0
            spread.setdefault(k, []).append((change, " ".join(key)))
        lines.append(f"{' '.join(key)}: " + "; ".join(parts))
    lines.append(f"{len(common)} rows in both; now against then:")
    for k, header, f in COLUMNS:
        if k not in spread:
            continue
        if k in MACHINE_BOUND:
            lo, hi = min(spread[k]), max(spread[k])
            lines.append(f"  {header}: now/then from {lo[0]:.2f} ({lo[1]}) to {hi[0]:.2f} ({hi[1]})")
        else:
            worst = max(spread[k], key=lambda c: abs(c[0]))
            lines.append(f"  {header}: largest |now - then| {f.format(abs(worst[0]))} ({worst[1]})")
    return lines


def short_commits(records: list[dict]) -> list[str]:
    """The commits the records' code ran at, short and sorted: each result's, and each of its
    recorded epochs' with those of the processes that began an epoch another finished (a resumed
    cell's earlier processes may have run other code)."""
    epochs = lambda r: [c for h in r.get("training", {}).get("history", [])
                        for c in (h.get("git_commit"), *h.get("before_resume", {}).get("git_commits", ()))]
    return sorted({c[:7] for r in records for c in (r["git_commit"], *epochs(r)) if c})


def code_commits(records: list[dict]) -> str:
    """The commits the cells ran at, sorted, with what '+dirty' means when one of them has it."""
    commits = sorted({r["git_commit"] for r in records if "git_commit" in r})
    dirty = any(c.endswith("+dirty") for c in commits)
    return (", ".join(commits) or "-") + (" (+dirty: the tracked code differed from that commit when the cell "
                                          "ran)" if dirty else "")


def ablation_order(seeds: list[int]) -> str:
    """The sentence that gives the order in which `plan` runs the ablation grid's cells."""
    if len(seeds) == 1:
        return "row by row, in the order of the tables."
    rest = " and ".join(map(str, seeds[1:]))
    return (f"in two passes, each row by row in the order of the tables: first every row at seed {seeds[0]} and "
            f"the rows that answer whether the LLM helps ({', '.join(EVERY_SEED_FIRST)}) at seeds {rest} too, "
            f"each row's seeds before the next row; then the other rows at seeds {rest} (MAS input, the "
            "costliest, last).")


def write_report(grid: str, proto: Protocol, out: Path, doc: Path, command: str, readme: Path | None) -> None:
    records = load_records(out / grid)
    datasets = proto.grid_datasets(grid)
    summary = summarise(records, datasets)
    names = list(DETECTORS) + ["baseline random", "baseline pca", "baseline iforest"] if grid == "main" \
        else list(ABLATIONS)
    title = "Results" if grid == "main" else "Ablations: does the LLM matter?"
    text = [f"# {title}", "", "Regenerate (resumable: cells already run are kept, and a cell stopped while "
            "scoring keeps its finished training):", "", "```bash", command, "```", "",
            "The cells run " + ("seed by seed, every dataset and detector of a seed before the next seed."
                                if grid == "main" else ablation_order(proto.seeds)), "",
            "## Protocol", "", proto.note, "",
            f"{len(records)} cells; code at commit(s) {code_commits(records)}; timed on {machines_line(records)}. "
            "Mean ± sample std over the "
            "seeds listed; train s is wall time of `run.py` (model loading and validation included), "
            "windows/s is `test.py`'s scoring rate, peak GB the larger resident set of the two processes. "
            "PA-F1, P, R: STAMP's protocol (best threshold searched on the test labels, point adjustment, "
            "over window labels); F1 no-PA: the exact best F1 without adjustment; PA%K-AUC, aff-F1, VUS-PR: see the README's "
            "metrics; AUC-ROC below 0.5 ranks anomalies below normal steps (worse than chance); POT F1: "
            "at the label-free POT threshold, no adjustment ('-' where POT fell back to a quantile); POT "
            "fitted: the share of cells whose POT fitted a tail; epoch 1 kept: the share of cells whose "
            "best validation loss was epoch 1, trained without the adversarial term; pred MAE: the "
            "prediction branch's test error on scaled data.", ""]
    if grid == "main":
        text += ["## Headline", "", headline(summary, list(datasets)), ""]
    text += ["## All rows", "", markdown_table(summary, names, list(datasets)), ""]
    if grid == "ablations":
        text += ["## Each row against the base", "",
                 "Gap: the row's mean minus the base's (seeds: the row's / the base's), beside the larger seed "
                 "std of the two ('-' where both have one seed); costs: the row's mean over the base's "
                 "(†: the two rows' cells were not all timed on one machine, so the multiple mixes machines).", "",
                 against_base(summary, names, list(datasets), machines_by_row(records)), ""]
    doc.parent.mkdir(parents=True, exist_ok=True)
    keep = doc.read_text().split("<!-- notes -->", 1)[1] if doc.is_file() and "<!-- notes -->" in doc.read_text() else ""
    doc.write_text("\n".join(text) + "\n<!-- notes -->" + keep if keep else "\n".join(text))
    if readme is not None and grid == "main":
        seeds = sorted({n for stats in summary.values() for _, _, n in stats.values()})
        update_readme(readme, headline(summary, list(datasets)), command,
                      f"{len(records)} cells so far; seeds per row: {', '.join(map(str, seeds)) or '-'} of "
                      f"{len(proto.seeds)}")


def update_readme(readme: Path, table: str, command: str, status: str) -> None:
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    text = readme.read_text()
    if start not in text:
        return
    block = f"{start}\n`{command}` wrote this table (and docs/RESULTS.md); {status}:\n\n{table}\n{end}"
    readme.write_text(text[: text.index(start)] + block + text[text.index(end) + len(end):])


def where(path: Path) -> Path:
    """The path as the repository names it, where it lies inside."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def report_doc(doc: Path | None, out: Path, default: Path, side: bool, blocks: bool = False) -> Path:
    """The markdown a grid writes: `doc` when given; `default` (in docs/) for the grid's own run; for a side
    run (`side`: another --out, or --quick) the file of the default's name beside its cells, so that a side run
    never rewrites docs/. A grid that rewrites marked `blocks` starts its side file as a copy of the default."""
    if doc is not None:
        return doc
    if not side:
        return default
    path = out / default.name
    if blocks and not path.is_file() and default.is_file():
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(default, path)
    return path


def rewrite_block(doc: Path, name: str, body: str) -> None:
    """Replace what lies between `<!-- name:start -->` and `<!-- name:end -->` in `doc` by `body`."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if not doc.is_file():
        raise UserError(f"{doc}: no such file to write the tables into")
    text = doc.read_text()
    if start not in text or end not in text:
        raise UserError(f"{doc} has no {start} ... {end} markers")
    doc.write_text(text[: text.index(start)] + f"{start}\n{body}\n{end}" + text[text.index(end) + len(end):])
    print(f"wrote {doc}")


def add_grid_flags(parser: argparse.ArgumentParser, out: str, doc: str, expe: str, *, quick: bool = True,
                   data_root: str = "", rows: list[str] | None = None, max_hours: bool = False) -> None:
    """The flags every grid script shares; `out`, `doc` and `expe` name the defaults for help. `quick` adds
    --quick and --datasets (the grids over datasets), `rows` gives --rows its choices, `max_hours` adds it."""
    if quick:
        parser.add_argument("--quick", action="store_true", help="one seed, one tiny epoch, synthetic data only")
    parser.add_argument("--data_root", default=data_root, help="where the real datasets are")
    if quick:
        parser.add_argument("--datasets", nargs="*", help="only these datasets of the grid")
    parser.add_argument("--seeds", nargs="*", type=int, help="only these of the grid's seeds")
    parser.add_argument("--rows", nargs="*", choices=rows, help="only these of the grid's rows")
    parser.add_argument("--out", type=Path, default=None, help=f"cell JSONs (default {out})")
    parser.add_argument("--doc", type=Path, default=None, help=f"markdown (default {doc}; beside the cells "
                        "for a side run: another --out, or --quick)")
    parser.add_argument("--expe_dir", type=Path, default=None, help=f"the runs' own files (default {expe})")
    if max_hours:
        parser.add_argument("--max_hours", type=float, default=0,
                            help="start no cell after this many hours (0 = no limit)")
    parser.add_argument("--report_only", action="store_true", help="rewrite the markdown from the cells run so far")


def grid_paths(args: argparse.Namespace, name: str, doc: str, blocks: bool = False) -> tuple[Path, Path, Path]:
    """A grid script's cell JSONs (--out, else expe/results/`name`), its markdown (`report_doc`, default
    docs/`doc`; a side run is one given another --out, or --quick) and its runs' folder (--expe_dir, else
    expe/`name`, relative to ROOT, the runs' cwd, so that the committed cells name no folder of this machine)."""
    out = args.out or ROOT / "expe" / "results" / name
    side = bool(getattr(args, "quick", False) or args.out)
    expe = getattr(args, "expe_dir", None) or Path("expe") / name
    return out, report_doc(args.doc, out, ROOT / "docs" / doc, side, blocks), expe


@cli_main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=("main", "ablations"), default="main")
    add_grid_flags(parser, "expe/results/bench", "docs/RESULTS.md or ABLATIONS.md", "expe/bench")
    parser.add_argument("--compare", type=Path, default=None, metavar="FOLDER",
                        help="only compare: the cell JSONs in FOLDER (an earlier run of the grid, moved aside) "
                             "against those of the same name under --out; exit 1 if any differs")
    parser.add_argument("--compare_table", type=Path, default=None, metavar="MARKDOWN",
                        help="only compare: the means of the cells under --out against the 'All rows' table "
                             "of an earlier report (e.g. from `git show REV:docs/ABLATIONS.md`)")
    args = parser.parse_args()
    proto = QUICK if args.quick else FULL
    out, doc, expe_root = grid_paths(args, "bench_quick" if args.quick else "bench",
                                     "RESULTS.md" if args.grid == "main" else "ABLATIONS.md")
    if args.compare:
        lines, all_same = compare_runs(args.compare, out / args.grid)
        print("\n".join(lines))
        sys.exit(0 if all_same else 1)
    if args.compare_table:
        if not args.compare_table.is_file():
            raise UserError(f"--compare_table {args.compare_table}: no such file")
        now = summarise(load_records(out / args.grid), proto.grid_datasets(args.grid))
        print("\n".join(compare_tables(parse_table(args.compare_table.read_text()), now)))
        return
    command = "python scripts/benchmark.py" + (" --grid ablations" if args.grid == "ablations" else "") + \
              (" --quick" if args.quick else " --data_root ../shared/datasets")
    if not args.report_only:
        cells = plan(args.grid, proto, args.data_root, args.datasets, args.seeds, args.rows)
        if not cells:
            raise UserError("no dataset of the grid was found; pass --data_root")
        run_grid(cells, proto, args.data_root, out, expe_root)
    # The README's headline is the default grid's alone.
    readme = None if args.quick or args.out or args.doc else ROOT / "README.md"
    write_report(args.grid, proto, out, doc, command, readme)
    print(f"wrote {doc}")


if __name__ == "__main__":
    main()
