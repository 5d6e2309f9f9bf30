"""The reasoning grid: `reason.py train` for the time-series language model and every control,
on one set of generated tasks, into docs/REASONING.md.

    python scripts/bench_reasoning.py --data_root ../shared/datasets --estimate   # probes: the grid's cost, full size
    python scripts/bench_reasoning.py --data_root ../shared/datasets              # run (resumable), then the tables
    python scripts/bench_reasoning.py --report_only                               # the tables from the committed cells
    python scripts/bench_reasoning.py --data_root ../shared/datasets --explain    # the reasoner explains alarms
    python scripts/bench_reasoning.py --data_root ../shared/datasets --grid easy    # the easy task (three kinds)
    python scripts/bench_reasoning.py --data_root ../shared/datasets --grid labels  # the same, 2,000 series, labels alone

`--explain` trains STAMP's detector (gat+ae) on the demo's synthetic data and on SMD
machine-1-2, and scores it with `test.py --explain text` and each seed's trained TSLM (the
grid's first row): the words about every alarm at the best-F1 threshold are checked against
the segment the alarm overlaps (its kind on the synthetic data, its responsible features on
both), one cell per (data, reasoner seed) in `<out>/explain__*.json`.

`--estimate` runs every row, and the TSLM at full size (all 30 layers, LoRA r=8), once on a
small task set (20 training series, 8 per evaluation split; one epoch where it trains), each in
its own process. `<out>/probe__*.json` records seconds per question of each part of a run; the
tables project a grid cell from them and compare the default with the full size.

The tasks are written once (`reason.py make-data --seed 1`, 2,100 training series and 350 each
for test and held-out, 96 steps x 3 channels) under the grid's expe folder. Every cell
(row, seed) runs in its own process; its record lands in `<out>/<cell>.json`, and a rerun
skips the cells already there with the same flags. `--max_hours` stops starting new cells once
that much wall time has passed.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.config import Config  # noqa: E402
from lib.data.reasoning import QUESTION_TYPES  # noqa: E402
from lib.errors import UserError, cli_main  # noqa: E402
from lib.hardware import machine, native_bf16  # noqa: E402
from lib.train.reasoning import DEFAULT_EPOCHS, TASK_DEFAULTS, VAL_SHARE  # noqa: E402
from scripts.benchmark import (FULL, add_grid_flags, drop_emulated_bf16, emulates_bf16, fmt, fmt_peak,  # noqa: E402
                               grid_paths, machines_line, mean_std, measured, out_of_hours, recorded_with,
                               resumed_wall, rewrite_block, runs_bf16, short_commits, versus, where)

# The rows that run the whole LLM answer the first 150 series of each evaluation split: with all 30
# layers in bfloat16 a question takes about half a second (the TSLM's seed-1 cell: 278 s for 600),
# and 150 series a split keep such a cell near an hour.
EVAL_150 = ["--rs_eval_series", "150"]
ROWS = {   # row -> reason.py train flags; reason.py's defaults: all 30 layers of SmolLM2 in bfloat16, 2 epochs
    "TSLM: encoder + SmolLM2 (frozen)": ["--rs_model", "tslm", *EVAL_150],
    "TSLM, random-init LLM": ["--rs_model", "tslm", "--llm_pretrained", "False", *EVAL_150],
    # the project's speed setting elsewhere: the first 6 layers (frozen, they cannot learn to write)
    "TSLM, first 6 LLM layers": ["--rs_model", "tslm", "--llm_layers", "6", "--llm_dtype", "float32"],
    "TSLM, LoRA r=8": ["--rs_model", "tslm", "--llm_lora_r", "8", *EVAL_150],
    # a departure from OpenTSLM: the encoder with pre-LN layers, with which the encoder head learns the kinds
    "TSLM, pre-LN encoder": ["--rs_model", "tslm", "--rs_enc_norm_first", "True", *EVAL_150],
    # the same for twice reason.py's epochs: the pre-LN encoder head validates best at epoch 4-5
    "TSLM, pre-LN encoder, 4 epochs": ["--rs_model", "tslm", "--rs_enc_norm_first", "True", "--epochs", "4",
                                       *EVAL_150],
    # cheap: it gets OpenTSLM's whole budget (20 epochs, early stop after 5 without improvement)
    "encoder + linear head (no LLM)": ["--rs_model", "encoder_head", "--epochs", "20", "--patience", "5"],
    # the same without OpenTSLM's encoder dropout (0.3): does the encoder learn the kinds at all?
    "encoder + linear head, no dropout": ["--rs_model", "encoder_head", "--epochs", "20", "--patience", "5",
                                          "--rs_enc_dropout", "0"],
    # a departure from OpenTSLM (post-LN): does a pre-LN stack leave the majority answer that the post-LN one keeps?
    "encoder + linear head, pre-LN encoder": ["--rs_model", "encoder_head", "--epochs", "20", "--patience", "5",
                                              "--rs_enc_norm_first", "True"],
    # zero-shot, the instruct model reads its own chat format (without it, it replies "A:" and ends its turn);
    # on the first 50 series of each evaluation split: about 1,300 prompt tokens a question
    "SmolLM2 reads the numbers, zero-shot (50 series a split)": [
        "--rs_model", "tslm", "--rs_series_as_text", "True", "--epochs", "0", "--rs_eval_series", "50",
        "--rs_chat_template", "True"],
    # trained: the first 6 layers through LoRA (the whole LLM over 1,300-token prompts is beyond the budget)
    "SmolLM2, first 6 layers, reads the numbers, LoRA r=8": [
        "--rs_model", "tslm", "--rs_series_as_text", "True", "--llm_layers", "6", "--llm_lora_r", "8", *EVAL_150],
    "random forest on window statistics": ["--rs_model", "stats_forest"],
    "majority": ["--rs_model", "majority"],
}
FLOAT32 = ["--llm_dtype", "float32"]
# bfloat16 against float32 over the same series, to see whether it changes the answers
FLOAT32_TSLM = "TSLM, LLM in float32"
ROWS[FLOAT32_TSLM] = ["--rs_model", "tslm", *FLOAT32, *EVAL_150]
# The LLM controls again with the LLM in float32, read against the float32 TSLM: like for like
# on any CPU, where the bfloat16 rows need one that computes it natively.
FLOAT32_TWINS = {f"{row}, LLM in float32": row for row in (
    "TSLM, random-init LLM", "SmolLM2, first 6 layers, reads the numbers, LoRA r=8")}
ROWS.update({twin: [*ROWS[row], *FLOAT32] for twin, row in FLOAT32_TWINS.items()})
LLM_CONTROLS = ("TSLM, random-init LLM", "TSLM, first 6 LLM layers", "TSLM, LoRA r=8", "TSLM, pre-LN encoder",
                "TSLM, pre-LN encoder, 4 epochs",
                "SmolLM2 reads the numbers, zero-shot (50 series a split)",
                "SmolLM2, first 6 layers, reads the numbers, LoRA r=8")
# one seed each, as the LLM controls: the model's three seeds run in bfloat16, on a CPU (or GPU) that
# computes it natively
LAST = (FLOAT32_TSLM, *FLOAT32_TWINS)
SEEDS = (1, 2, 3)
# reason.py's defaults, written out in the flags of every cell (the LLM's only where a row runs one;
# a row's own flags come after them). The LLM runs in bfloat16 on every machine, not `auto`, so
# that the rows mean one computation everywhere; a machine that emulates it skips those cells.
COMMON = ["--epochs", str(DEFAULT_EPOCHS)]
LLM_COMMON = ["--llm_layers", str(TASK_DEFAULTS["llm_layers"]), "--llm_dtype", "bfloat16"]

# A task the TSLM should learn if its answers read the series at all: three kinds that the random
# forest tells apart, on synthetic backgrounds only, the grid's magnitudes. The LLM runs in float32,
# so that these cells run, as one computation, on any CPU.
EASY_TASKS = ("--rs_kinds", "none,spike,level shift", "--rs_real_share", "0", "--rs_n_train", "500",
              "--rs_n_eval", "100")
EASY_ROWS = {
    "TSLM: encoder + SmolLM2 (frozen), LLM in float32": ["--rs_model", "tslm", *FLOAT32],
    **{row: ROWS[row] for row in ("encoder + linear head (no LLM)", "encoder + linear head, pre-LN encoder",
                                  "random forest on window statistics", "majority")},
}
# The easy task again, on 2,000 training series (where the pre-LN encoder head learns it) and with
# answers that are the label alone, so that the TSLM need not learn the rationale's form first: it
# starts from the encoder head's encoder of the same seed, and trains one epoch (an hour on an AVX2 CPU).
LABEL_TASKS = ("--rs_kinds", "none,spike,level shift", "--rs_real_share", "0", "--rs_n_train", "2000",
               "--rs_n_eval", "100", "--rs_rationale", "False")
HEAD_PRE_LN = "encoder + linear head, pre-LN encoder"
STARTED_TSLM = "TSLM, pre-LN encoder started from the encoder head's, LLM in float32, 1 epoch"
STARTED_RANDOM = "TSLM, random-init LLM, encoder started from the encoder head's, LLM in float32, 1 epoch"
STARTED = {   # the rows that start from the encoder head's encoder
    STARTED_TSLM: ["--rs_model", "tslm", "--rs_enc_norm_first", "True", *FLOAT32, "--epochs", "1"],
}
# the control: does the pretrained LLM turn the encoder's knowledge into words, or would any LLM of its shape?
STARTED[STARTED_RANDOM] = [*STARTED[STARTED_TSLM], "--llm_pretrained", "False"]
LABEL_ROWS = {**STARTED, **{row: ROWS[row] for row in (HEAD_PRE_LN, "random forest on window statistics", "majority")}}


@dataclass(frozen=True)
class Grid:
    """Rows run over one task set: the grid's, or an easy task's. `one_seed`: rows run on the first
    seed only, after the others; `last`: on the first seed, after those."""
    rows: dict[str, list[str]]
    prefix: str                       # of its cells' files and folders, and of its task folder
    title: str                        # in messages
    tasks: tuple[str, ...] = ()       # reason.py make-data flags beyond --seed 1
    one_seed: tuple[str, ...] = ()
    last: tuple[str, ...] = ()
    # row -> the encoder_head row whose encoder (of the same seed) it starts from
    encoder_from: dict[str, str] = field(default_factory=dict)

    def stem(self, row: str, seed: int) -> str:
        return self.prefix + stem(row, seed)

    def start_path(self, row: str, seed: int, expe: Path) -> Path | None:
        """The checkpoint of the seed's cell of the row `row` starts from, if any."""
        source = self.encoder_from.get(row)
        return expe / self.stem(source, seed) / "pth" / f"reason_encoder_head_seed{seed}.pth" if source else None

    def start_flags(self, row: str, seed: int, expe: Path) -> list[str]:
        start = self.start_path(row, seed, expe)
        return ["--rs_encoder_from", str(start)] if start else []

    def data(self, expe: Path) -> Path:
        return expe / f"{self.prefix}data"

    def tier(self, row: str) -> int:
        """A cell's place in the run order: the model and the cheap controls (0), the rows that start from
        another row's checkpoint (1), `one_seed` (2), `last` (3)."""
        if row in self.last:
            return 3
        if row in self.one_seed:
            return 2
        return 1 if row in self.encoder_from else 0


MAIN = Grid(ROWS, "", "the grid", (), LLM_CONTROLS, LAST)
EASY = Grid(EASY_ROWS, "easy__", "the easy task", EASY_TASKS, tuple(r for r in EASY_ROWS if EASY_ROWS[r][1] == "tslm"))
LABELS = Grid(LABEL_ROWS, "labels__", "the easy task, labels alone", LABEL_TASKS, (STARTED_RANDOM,),
              encoder_from=dict.fromkeys(STARTED, HEAD_PRE_LN))
GRIDS = {"main": MAIN, "easy": EASY, "labels": LABELS}   # bench_reasoning.py --grid NAME


def cells(rows: list[str] | None, seeds: list[int] | None, grid: Grid = MAIN) -> list[tuple[str, int]]:
    """(row, seed) of `grid`: first the model and the cheap controls over every seed (seeds outermost),
    then the rows that start from another row's checkpoint over every seed, then its `one_seed` rows (the
    grid's LLM-based controls) on the first seed, then its `last` (the float32 TSLM, then the float32
    twins of the LLM controls) on the first seed. A grid stopped early has the main comparison, with
    seed noise."""
    asked = [(row, s) for s in (seeds or SEEDS) for row in grid.rows if (not rows or row in rows)
             and (s == SEEDS[0] or row not in (*grid.one_seed, *grid.last))]
    return sorted(asked, key=lambda cell: grid.tier(cell[0]))


def safe_name(text: str) -> str:
    """`text` as a file name: every character other than a letter or digit becomes '-'."""
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-")


def stem(row: str, seed: int) -> str:
    return f"{safe_name(row)}__seed{seed}"


def flags(row: str, seed: int, data: Path, expe: Path, grid: Grid = MAIN) -> list[str]:
    return ["--rs_data", str(data), "--seed", str(seed), *COMMON, *llm_common(grid.rows[row]), *grid.rows[row],
            *grid.start_flags(row, seed, expe), "--expe_dir", str(expe / grid.stem(row, seed))]


def llm_common(model: list[str]) -> list[str]:
    """reason.py's LLM defaults where a row's flags `model` run an LLM."""
    return LLM_COMMON if model[1] == "tslm" else []


def row_flag(row: str, flag: str, default: int) -> int:
    """The value `row` gives `flag`, else `default` (a name outside ROWS: `default`)."""
    flags = ROWS.get(row, [])
    return int(flags[flags.index(flag) + 1]) if flag in flags else default


def epochs_of(row: str) -> int:
    """The epochs `row` trains for: its own --epochs, else reason.py's default."""
    return row_flag(row, "--epochs", DEFAULT_EPOCHS)


def trained(row: str) -> bool:
    """Rows that train for epochs (the classical controls fit at once; zero-shot trains nothing)."""
    return ROWS[row][1] in ("tslm", "encoder_head") and epochs_of(row) > 0


EXPLAINER = next(iter(ROWS))   # the time-series language model
DETECTOR = ["--pred_model", "gat", "--recon_model", "ae"]
EXPLAIN_DATA = {   # name -> (data flags, run.py's training flags)
    "synthetic": (["--data", "synthetic"], ["--epochs", "5"]),   # the demo's run
    "SMD machine-1-2": (["--data", "SMD", "--entity", "machine-1-2"], FULL.train),   # the detection grid's budget
}


def make_data(data: Path, data_root: str, log: Path, extra: Sequence[str] = ()) -> None:
    if not (ROOT / data / "heldout.jsonl").is_file():
        measured([sys.executable, "reason.py", "make-data", "--rs_data", str(data), "--seed", "1",
                  "--data_root", data_root, *extra], log)


def train_cell(row: str, seed: int, data: Path, expe: Path, grid: Grid = MAIN) -> dict:
    """Run (or resume, from its last saved state) one cell's `reason.py train`; its record."""
    cell_flags = flags(row, seed, data, expe, grid)
    folder = ROOT / expe / grid.stem(row, seed)
    wall, peak_gb = measured([sys.executable, "reason.py", "train", *cell_flags, "--resume", "True"],
                             folder / "bench.log")
    (result,) = (folder / "results" / "reasoning").glob("*.json")
    res = json.loads(result.read_text())
    return {"row": row, "seed": seed, "flags": cell_flags, "wall_seconds": resumed_wall(wall, res["training"]),
            "peak_gb": peak_gb, "git_commit": res["git_commit"], "machine": machine(),
            **({"peak_gpu_gb": res["peak_gpu_mb"] / 1024} if "peak_gpu_mb" in res else {}),
            "training": res["training"], "scores": res["scores"]}


def run_cell(row: str, seed: int, data: Path, expe: Path, out: Path, grid: Grid = MAIN) -> dict:
    """Run one cell (`train_cell`) and write its record into `out`."""
    record = train_cell(row, seed, data, expe, grid)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{grid.stem(row, seed)}.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


# The estimate and the cost table: one probe per row, and per full-size setting, on a small task set
# (PROBE_TASKS); each records seconds per question of every part of a run.
PROBE_TASKS = ["--rs_n_train", "20", "--rs_n_eval", "8"]   # 18 training series (72 questions), 8 per eval split
FULL_SIZE = {   # beside the rows: the TSLM at full size as on a GPU, every layer of SmolLM2 in float32, LoRA r=8
    "TSLM, all 30 layers, LoRA r=8, LLM in float32": ["--llm_lora_r", "8", "--llm_dtype", "float32"],
}
COST_ROWS = (EXPLAINER, FLOAT32_TSLM, "TSLM, first 6 LLM layers", "TSLM, LoRA r=8", *FULL_SIZE)


def questions(n_series: int, n_eval: int) -> dict[str, int]:
    """Questions per part of a run on tasks of `n_series` training series and `n_eval` per eval split:
    training and validation (the last VAL_SHARE of the series) per epoch, test and held-out."""
    n_val = max(1, int(n_series * VAL_SHARE))
    k = len(QUESTION_TYPES)
    return {"train": (n_series - n_val) * k, "val": n_val * k, "test": n_eval * k, "heldout": n_eval * k}


GRID_QUESTIONS = questions(Config().rs_n_train, Config().rs_n_eval)


def probe_path(out: Path, name: str) -> Path:
    """Where `name`'s probe is recorded: one per setting from a machine with native bfloat16, where
    the grid runs, and one more from a machine that emulates it, for the float32 settings' pace there."""
    return out / f"probe__{safe_name(name)}{'' if native_bf16() else '__emulated_bf16'}.json"


def with_native_bf16(probes: list[dict], native: bool = True) -> list[dict]:
    """The probes from machines with (`native`) or without native bfloat16; a probe that does not
    say ran on one with it (the first probes all did)."""
    return [p for p in probes if p.get("native_bf16", True) == native]


def probe_flags(name: str, data: Path, expe: Path) -> list[str]:
    """A grid row's flags, or the TSLM's with a full-size setting, at one epoch where it trains."""
    model = ROWS[name] if name in ROWS else ROWS[EXPLAINER] + FULL_SIZE[name]
    one_epoch = ["--epochs", "1"] if name not in ROWS or trained(name) else []
    return ["--rs_data", str(data), "--seed", "1", *COMMON, *llm_common(model), *model, *one_epoch,
            "--expe_dir", str(expe / f"probe__{safe_name(name)}")]


def probe_cell(name: str, data_root: str, expe: Path, out: Path) -> dict:
    """Run `name` once on the probe tasks; seconds per question of training, validation, answering
    and the grounding checks, and the rest of the run (loading, saving) in seconds."""
    data = expe / "probe_data"
    make_data(data, data_root, ROOT / expe / "probe_make_data.log", PROBE_TASKS)
    cell_flags = probe_flags(name, data, expe)
    folder = ROOT / cell_flags[-1]
    wall, peak_gb = measured([sys.executable, "reason.py", "train", *cell_flags], folder / "bench.log")
    (result,) = (folder / "results" / "reasoning").glob("*.json")
    res = json.loads(result.read_text())
    lines = lambda split: sum(1 for _ in open(ROOT / data / f"{split}.jsonl"))
    q = questions(lines("train"), lines("test"))
    history, test, held = res["training"]["history"], res["scores"]["test"], res["scores"]["heldout"]
    fit_s = res["training"]["fit_seconds"]
    record = {"row": name, "flags": cell_flags, "git_commit": res["git_commit"], "machine": machine(),
              "native_bf16": native_bf16(), "wall_seconds": wall,
              "peak_gb": peak_gb, "parameters": res["training"]["parameters"], "questions": q,
              "train_s_per_question": history[0]["seconds"] / q["train"] if history else None,
              "val_s_per_question": history[0]["val_seconds"] / q["val"] if history else None,
              "fit_seconds": fit_s,
              "answer_s_per_question": (test["seconds"] + held["seconds"]) / (q["test"] + q["heldout"]),
              "grounding_s_per_question": test["grounding_seconds"] / q["test"],
              "rest_seconds": wall - fit_s - test["seconds"] - held["seconds"] - test["grounding_seconds"]}
    out.mkdir(parents=True, exist_ok=True)
    probe_path(out, name).write_text(json.dumps(record, indent=1) + "\n")
    return record


def epoch_seconds(probe: dict, q: dict[str, int] = GRID_QUESTIONS) -> float:
    """One epoch of training and validation on tasks with `q` questions, at the probe's pace."""
    return q["train"] * probe["train_s_per_question"] + q["val"] * probe["val_s_per_question"]


def row_questions(row: str) -> dict[str, int]:
    """The grid's questions as `row` runs them: its --rs_eval_series caps each evaluation split."""
    cap = row_flag(row, "--rs_eval_series", 0)
    k = len(QUESTION_TYPES)
    return {**GRID_QUESTIONS, **({s: min(GRID_QUESTIONS[s], cap * k) for s in ("test", "heldout")} if cap else {})}


def projected_seconds(probe: dict, q: dict[str, int] | None = None) -> float:
    """A grid cell's CPU seconds at the probe's pace (on `q`, default: its row's questions):
    its row's epochs (a row that fits at once: its fit in proportion to the training questions), the
    answers, the grounding checks, the rest."""
    q = q or row_questions(probe["row"])
    fit = (epochs_of(probe["row"]) * epoch_seconds(probe, q) if probe["train_s_per_question"] is not None
           else probe["fit_seconds"] * q["train"] / probe["questions"]["train"])
    return (fit + (q["test"] + q["heldout"]) * probe["answer_s_per_question"]
            + q["test"] * probe["grounding_s_per_question"] + probe["rest_seconds"])


def estimate_table(probes: list[dict]) -> str:
    n_cells = {row: sum(1 for r, _ in cells(None, None) if r == row) for row in ROWS}
    rows = [(p["row"], p) for p in probes if p["row"] in ROWS]
    lines = [f"| {row} | {p['wall_seconds']:.0f} | {n_cells[row]} | {projected_seconds(p) / 3600:.2f} | "
             f"{n_cells[row] * projected_seconds(p) / 3600:.2f} |" for row, p in rows]
    total = sum(n_cells[row] * projected_seconds(p) for row, p in rows) / 3600
    head = ["row", "probe run (s)", "cells", "projected h per cell", "projected h"]
    return "\n".join(["| " + " | ".join(head) + " |", "|---" * len(head) + "|", *lines,
                      f"| all ({len(rows)} of {len(ROWS)} rows probed) | | {sum(n_cells.values())} | | {total:.1f} |"]
                     ) if rows else "(no probes yet)"


def cost_row(row: str, recs: list[dict]) -> str:
    p = recs[0]
    n = p["parameters"]
    return (f"| {row} | {n['trainable']:,} / {n['total']:,} | {p['train_s_per_question']:.2f} | "
            f"{epoch_seconds(p) / 3600:.2f} | {p['answer_s_per_question']:.2f} | {p['peak_gb']:.2f} |")


def cost_table(probes: list[dict]) -> str:
    head = ["setting", "trainable / total parameters", "training s / question", "an epoch of the grid's tasks (h)",
            "answering s / question", "peak GB"]
    return grouped_table(head, probes, "row", COST_ROWS, cost_row)


def emulated_cost(probes: list[dict]) -> list[str]:
    """The projection and the cost table again, from the probes of machines without native bfloat16:
    the rows that run there, and reason.py's `--llm_dtype auto`, which is float32 there (none where
    no such probe is recorded)."""
    if not probes:
        return []
    return ["", "### On a CPU without native bfloat16", "",
            f"Timed on {machines_line(probes)}; `--llm_dtype auto` runs the LLM in float32 there, and the "
            "grid skips the bfloat16 rows.", "", estimate_table(probes), "", cost_table(probes)]


def trained_reasoner(expe: Path, seed: int) -> Path | None:
    """The seed's trained TSLM checkpoint, as its reason.py result names it (under `expe` as given:
    the grid's is relative, so the explain record names no machine's folders); None where it is not
    on this machine."""
    results = sorted((ROOT / expe / stem(EXPLAINER, seed) / "results" / "reasoning").glob("*.json"))
    found = json.loads(results[-1].read_text())["checkpoint"] if results else None
    return Path(found) if found and (ROOT / found).is_file() else None


def explain_cell(name: str, seed: int, data_root: str, expe: Path, out: Path) -> dict | None:
    """Train the detector once per dataset, then score it with `test.py --explain text` and the
    seed's TSLM; the record of `explanation_scores`. None (said) where the reasoner's checkpoint
    is not on this machine."""
    reasoner = trained_reasoner(expe, seed)
    if reasoner is None:
        print(f"    no checkpoint of '{EXPLAINER}', seed {seed}, under {expe}: run the grid first; skipped")
        return None
    data_flags, train_flags = EXPLAIN_DATA[name]
    folder = expe / f"explain__{safe_name(name)}"
    common = [*data_flags, "--data_root", data_root, *DETECTOR, "--expe_dir", str(folder)]
    log = ROOT / folder / "bench.log"
    measured([sys.executable, "run.py", *common, *train_flags, "--resume", "True"], log)
    test_flags = [*common, "--explain", "text", "--reasoner", str(reasoner)]
    wall, peak = measured([sys.executable, "test.py", *test_flags], log)
    (result,) = (ROOT / folder / "results").glob("*.json")
    res = json.loads(result.read_text())
    if "words_scores" not in res["root_cause"]:
        raise UserError(f"{result}: test.py wrote no words_scores (does {name} have labelled segments?)")
    record = {"data": name, "seed": seed, "flags": {"run": [*common, *train_flags], "test": test_flags},
              "git_commit": res["git_commit"], "machine": machine(), "test_wall_seconds": wall, "test_peak_gb": peak,
              "detector": {"f1_pa": res["metrics"]["f1"], "threshold": res["metrics"]["threshold"],
                           **{k: v for k, v in res["root_cause"].items() if k.startswith("hitrate")}},
              "words_scores": res["root_cause"]["words_scores"]}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"explain__{stem(name, seed)}.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def grouped_table(head: list[str], records: list[dict], key: str, names, make_row) -> str:
    """A markdown table: `head`, then `make_row(name, its records)` for each of `names` with records
    whose `key` is that name."""
    groups = [(name, [r for r in records if r[key] == name]) for name in names]
    lines = [make_row(name, recs) for name, recs in groups if recs]
    return "\n".join(["| " + " | ".join(head) + " |", "|---" * len(head) + "|", *lines]) if lines else "(no cells yet)"


def explain_row(name: str, recs: list[dict]) -> str:
    w = [r["words_scores"] for r in recs]
    stat = lambda key, f="{:.2f}": fmt(mean_std([x[key] for x in w]), f)
    kinds = sorted({k for x in w for k in x["by_kind"]})
    by_kind = "; ".join(f"{k} {fmt(mean_std([x['by_kind'][k]['accuracy'] for x in w if k in x['by_kind']]), '{:.2f}')}"
                        for k in kinds) or "-"
    return " | ".join([f"| {name}", str(len(recs)), stat("alarms", "{:.0f}"), stat("on_anomaly", "{:.0f}"),
                       stat("kind_accuracy"), by_kind, stat("named_hit"), stat("top1_hit"), stat("topk_contains"),
                       stat("false_alarms_said_none"),
                       fmt(mean_std([r["test_wall_seconds"] for r in recs]), "{:.0f}") + " |"])


def explain_table(records: list[dict]) -> str:
    head = ["data", "reasoner seeds", "alarms", "on a labelled anomaly", "kind accuracy", "kind accuracy by kind",
            "named channel responsible", "detector's top feature responsible", "any shown feature responsible",
            "false alarms called 'none'", "test.py s"]
    return grouped_table(head, records, "data", EXPLAIN_DATA, explain_row)


def grid_row(row: str, recs: list[dict], split: str) -> str:
    s = [r["scores"][split] for r in recs]
    stat = lambda f: mean_std([f(x) for x in s])
    g = [x.get("grounding", {}) for x in s]
    return " | ".join([
        f"| {row}", str(len(recs)), "/".join(sorted({str(x["kind_choice"]["n"]) for x in s})),
        fmt(stat(lambda x: x["kind_choice"]["accuracy"]), "{:.3f}"),
        fmt(stat(lambda x: x["kind_free"]["accuracy"]), "{:.3f}"),
        fmt(stat(lambda x: x["kind_free"]["macro_f1"]), "{:.3f}"),
        fmt(stat(lambda x: x["kind_free"]["parse_failure"]), "{:.3f}"),
        fmt(stat(lambda x: x["channel"]["accuracy"]), "{:.3f}"), fmt(stat(lambda x: x["onset"]["accuracy"]), "{:.3f}"),
        fmt(stat(lambda x: x["onset_error_steps"]), "{:.1f}"),
        fmt(stat(lambda x: x.get("rubric", {}).get("all", float("nan"))), "{:.3f}"),
        fmt(mean_std([x["shuffled_accuracy"] for x in g]) if split == "test" and all(g) else None, "{:.3f}"),
        fmt(mean_std([x["removed_answered_none"] for x in g]) if split == "test" and all(g) else None, "{:.3f}"),
        f"{recs[0]['training']['parameters']['trainable']:,}",
        fmt(mean_std([r["wall_seconds"] for r in recs]), "{:.0f}"),
        fmt_peak(recs) + " |"])


def table(records: list[dict], split: str, rows: dict = ROWS) -> str:
    head = ["row", "seeds", "series", "kind acc. (choice)", "kind acc. (free)", "kind macro-F1", "parse failures", "channel acc.",
            "onset acc.", "onset error (steps)", "rationale rubric", "shuffled series: kind acc.",
            "anomaly removed: 'none'", "trainable params", "train s", "peak GB"]
    return grouped_table(head, records, "row", rows, lambda row, recs: grid_row(row, recs, split))


SPLITS = {"test": "In distribution", "heldout": "Held out"}


def comparisons(records: list[dict]) -> list[str]:
    """The reading's figures, computed: per split, the kind accuracy (free text) of the TSLM, or of the
    float32 TSLM for a float32 twin, against every other row's, in points, beside seed noise, with both
    rows' mean wall seconds (and their machines where these differ)."""
    by_row = {row: [r for r in records if r["row"] == row] for row in ROWS}
    acc = lambda recs, split: mean_std([r["scores"][split]["kind_free"]["accuracy"] for r in recs])
    pairs = [(EXPLAINER, row) for row in ROWS if row != EXPLAINER and row not in FLOAT32_TWINS]
    pairs += [(FLOAT32_TSLM, twin) for twin in FLOAT32_TWINS]
    return [f"{name}, kind accuracy (free text) of {'the TSLM' if base == EXPLAINER else base} against {row}: "
            f"{versus(acc(by_row[base], split), acc(by_row[row], split), relative=False)}; "
            f"{walls(by_row[base], by_row[row])}"
            for split, name in SPLITS.items() for base, row in pairs if by_row[base] and by_row[row]]


def walls(base: list[dict], other: list[dict]) -> str:
    """'wall 4657 s against 636 s', each row's machines named where the two rows' differ."""
    wall = lambda recs: f"{mean_std([r['wall_seconds'] for r in recs])[0]:.0f} s"
    machines = lambda recs: "; ".join(sorted({r.get("machine", "?") for r in recs}))
    if machines(base) == machines(other):
        return f"wall {wall(base)} against {wall(other)}"
    return f"wall {wall(base)} ({machines(base)}) against {wall(other)} ({machines(other)})"


def load(out: Path, prefix: str = "") -> list[dict]:
    """The records in `out` whose file names start with `prefix` ("": the grid's cells)."""
    return [json.loads(p.read_text()) for p in sorted(out.glob(f"{prefix}*.json"))
            if prefix or not p.name.startswith(("explain__", "probe__", *(g.prefix for g in GRIDS.values() if g.prefix)))]


def commits(records: list[dict], hours: bool = False) -> str:
    """The records' commits, and the machines their timings come from (with `hours`, the cells'
    wall hours on each)."""
    return (", ".join(short_commits(records)) or "-") + \
        f"; timed on {machines_line(records, hours)}"


def not_run(records: list[dict], grid: Grid = MAIN) -> str:
    """The grid's cells without a record, in run order, as lines of a list: one for the rows that run
    the LLM in bfloat16 (a CPU that computes it natively runs them), one for the rest."""
    done = {(r["row"], r["seed"]) for r in records}
    left: dict[bool, dict[str, list[int]]] = {True: {}, False: {}}
    for row, seed in cells(None, None, grid):
        if (row, seed) not in done:
            left[runs_bf16(flags(row, seed, Path(), Path(), grid))].setdefault(row, []).append(seed)
    n = sum(len(s) for rows in left.values() for s in rows.values())
    if not n:
        return f"Every cell of {grid.title} is run."
    named = lambda rows: "; ".join(f'"{row}" seed{"s" * (len(s) > 1)} {", ".join(map(str, s))}'
                                   for row, s in rows.items())
    kinds = {True: "with the LLM in bfloat16 (they run on a CPU that computes it natively)", False: "the others"}
    return "\n".join([f"Not run yet ({n} cell{'s' * (n != 1)}):", "",
                      *(f"- {kinds[bf16]}: {named(rows)}" for bf16, rows in left.items() if rows)])


def write_report(out: Path, doc: Path) -> None:
    records, explained, probes = load(out), load(out, "explain__"), load(out, "probe__")
    native = with_native_bf16(probes)
    rewrite_block(doc, "reasoning-cost", "\n".join([
        f"`python scripts/bench_reasoning.py --data_root ../shared/datasets --estimate` measured these tables "
        f"({len(probes)} probes, code at {commits(probes)}).", "", "### The grid's projected CPU time", "",
        estimate_table(native), "", "### The default against the full size", "", cost_table(native),
        *emulated_cost(with_native_bf16(probes, False))]))
    rewrite_block(doc, "reasoning-explain", "\n".join([
        f"`python scripts/bench_reasoning.py --report_only` wrote this table from {len(explained)} cells (code at "
        f"{commits(explained)}).", "", explain_table(explained)]))
    rewrite_block(doc, "reasoning-grid", "\n".join([
        f"`python scripts/bench_reasoning.py --report_only` wrote these tables from the cells in "
        f"`{where(out)}` ({len(records)} of the grid's {len(cells(None, None))} cells, code at "
        f"{commits(records, hours=True)}).", "", not_run(records), "", "### In distribution (test split)", "",
        table(records, "test"), "",
        "### Held out: larger magnitudes, longer segments, other backgrounds", "", table(records, "heldout"), "",
        "### The TSLM against each row", "",
        "\n".join(f"- {line}" for line in comparisons(records)) or "(no cells of the TSLM yet)"]))
    for name, grid in GRIDS.items():
        if grid is not MAIN:
            cells_of = load(out, grid.prefix)
            rewrite_block(doc, f"reasoning-{name}", "\n".join([
                f"`python scripts/bench_reasoning.py --data_root ../shared/datasets --grid {name}` wrote these tables "
                f"({len(cells_of)} cells, code at {commits(cells_of)}).", "",
                *(line for split, title in SPLITS.items()
                  for line in (f"### {title}", "", table(cells_of, split, grid.rows), ""))]).rstrip())


def probe_all(data_root: str, expe: Path, out: Path) -> None:
    """A probe of every grid row and full-size setting not yet in `out` with the same flags."""
    for name in (*ROWS, *FULL_SIZE):
        cell_flags = probe_flags(name, expe / "probe_data", expe)
        if recorded_with(probe_path(out, name), cell_flags) is not None:
            continue
        if emulates_bf16(cell_flags):
            print(f"probe: {name}: skipped, {machine()} has no native bfloat16 (its pace would say nothing)")
            continue
        print(f"probe: {name}", flush=True)
        rec = probe_cell(name, data_root, expe, out)
        print(f"    {rec['wall_seconds']:.0f} s; a grid cell at this pace: {projected_seconds(rec) / 3600:.2f} h",
              flush=True)


def untimed(scores: dict) -> str:
    """A cell's scores without the seconds they took, as text (NaN equals NaN there)."""
    return json.dumps({split: {k: v for k, v in part.items() if not k.endswith("seconds")}
                       for split, part in scores.items()}, sort_keys=True)


def restore_start(row: str, seed: int, data: Path, expe: Path, out: Path, grid: Grid = MAIN) -> None:
    """Retrain the recorded cell that (`row`, `seed`) starts from where its checkpoint is not on this
    machine (checkpoints are not in git). Its record stays as it is; scores that differ from it stop
    the grid in one line, since the cell would start from another encoder than the recorded one."""
    start = grid.start_path(row, seed, expe)
    if start is None or (ROOT / start).is_file():
        return
    source = grid.encoder_from[row]
    recorded = recorded_with(out / f"{grid.stem(source, seed)}.json", flags(source, seed, data, expe, grid))
    if recorded is None:   # not run yet: the grid runs it first, or reason.py says the file is missing
        return
    print(f"    {source}, seed {seed}: its checkpoint is not on this machine; retraining it", flush=True)
    if untimed(train_cell(source, seed, data, expe, grid)["scores"]) != untimed(recorded["scores"]):
        raise UserError(f"{source}, seed {seed}: retrained, its scores differ from its record in "
                        f"{out / (grid.stem(source, seed) + '.json')}; rerun that cell (move its record aside) first")
    print("    its scores equal its record's", flush=True)


def run_grid(todo: list[tuple[str, int]], data: Path, expe: Path, out: Path, max_hours: float = 0,
             grid: Grid = MAIN) -> None:
    """Run the (row, seed) cells not yet in `out` with their flags, one process each, in order; start none
    after `max_hours` (0: no limit)."""
    t0 = time.time()
    todo = drop_emulated_bf16(todo, lambda c: flags(*c, data, expe, grid))
    pending = [c for c in todo if recorded_with(out / f"{grid.stem(*c)}.json", flags(*c, data, expe, grid)) is None]
    n_done = len(todo) - len(pending)
    for i, (row, seed) in enumerate(pending):
        if out_of_hours(t0, max_hours, len(pending) - i):
            break
        print(f"[{n_done + i + 1}/{len(todo)}] {row}, seed {seed}", flush=True)
        restore_start(row, seed, data, expe, out, grid)
        rec = run_cell(row, seed, data, expe, out, grid)
        print(f"    kind accuracy {rec['scores']['test']['kind_choice']['accuracy']:.3f} (test), "
              f"{rec['scores']['heldout']['kind_choice']['accuracy']:.3f} (held out); {rec['wall_seconds']:.0f} s",
              flush=True)


def grid_of(args: argparse.Namespace) -> Grid:
    """The grid the flags ask for; one line for flags that do not go with it."""
    grid = GRIDS[args.grid]
    if grid is not MAIN and (args.explain or args.estimate):
        raise UserError(f"--grid {args.grid} runs {grid.title} only; run --explain and --estimate without it")
    other = [row for row in args.rows or [] if row not in grid.rows]
    if other:
        raise UserError(f"--rows: not rows of {grid.title}: {'; '.join(other)}")
    return grid


@cli_main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_grid_flags(parser, "expe/results/bench_reasoning", "docs/REASONING.md", "expe/bench_reasoning",
                   quick=False, data_root="../shared/datasets", max_hours=True,
                   rows=list(dict.fromkeys(r for g in GRIDS.values() for r in g.rows)))
    parser.add_argument("--estimate", action="store_true", help="probe every row and the full-size TSLM on a small "
                        "task set (resumable); write the grid's projected cost and the cost table")
    parser.add_argument("--grid", choices=list(GRIDS), default="main", help="main: the grid; easy: the TSLM and "
                        "the controls on an easy task (three kinds, synthetic backgrounds), LLM in float32; labels: "
                        "the same on 2,000 series with answers that are the label alone, the TSLM starting from "
                        "the encoder head's encoder (resumable)")
    parser.add_argument("--explain", action="store_true", help="after the grid: the trained TSLM explains the "
                        "alarms of STAMP's detector on synthetic data and SMD machine-1-2")
    args = parser.parse_args()
    args.out, args.doc, args.expe_dir = grid_paths(args, "bench_reasoning", "REASONING.md", blocks=True)
    grid = grid_of(args)
    data = grid.data(args.expe_dir)
    if args.estimate:
        probe_all(args.data_root, args.expe_dir, args.out)
    elif not args.report_only:
        make_data(data, args.data_root, ROOT / args.expe_dir / f"{grid.prefix}make_data.log", grid.tasks)
        run_grid(cells(args.rows, args.seeds, grid), data, args.expe_dir, args.out, args.max_hours, grid)
        if args.explain:
            explain_all(args.data_root, args.expe_dir, args.out, args.seeds)
    write_report(args.out, args.doc)


def explain_all(data_root: str, expe: Path, out: Path, seeds: list[int] | None) -> None:
    """The explain cells not yet in `out` (SMD's only where its files are present)."""
    for name in EXPLAIN_DATA:
        if name.startswith("SMD") and not (Path(data_root) / "SMD").is_dir():
            print(f"explain on {name}: no SMD under {data_root}; skipped")
            continue
        for seed in seeds or SEEDS:
            if (out / f"explain__{stem(name, seed)}.json").is_file():
                continue
            print(f"explain: {name}, reasoner seed {seed}", flush=True)
            rec = explain_cell(name, seed, data_root, expe, out)
            if rec:
                w = rec["words_scores"]
                print(f"    kind accuracy {w['kind_accuracy']:.2f}; named channel responsible {w['named_hit']:.2f}",
                      flush=True)


if __name__ == "__main__":
    main()
