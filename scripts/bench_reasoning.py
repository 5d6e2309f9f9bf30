"""The reasoning grid: `reason.py train` for the time-series language model and every control,
on one set of generated tasks, into docs/REASONING.md.

    python scripts/bench_reasoning.py --data_root ../shared/datasets --estimate   # one timed epoch of each trained row
    python scripts/bench_reasoning.py --data_root ../shared/datasets              # run (resumable), then the tables
    python scripts/bench_reasoning.py --report_only                               # the tables from the committed cells
    python scripts/bench_reasoning.py --data_root ../shared/datasets --explain    # the reasoner explains alarms
    python scripts/bench_reasoning.py --data_root ../shared/datasets --full_cost  # default against full size

`--explain` trains STAMP's detector (gat+ae) on the demo's synthetic data and on SMD
machine-1-2, and scores it with `test.py --explain text` and each seed's trained TSLM (the
grid's first row): the words about every alarm at the best-F1 threshold are checked against
the segment the alarm overlaps (its kind on the synthetic data, its responsible features on
both), one cell per (data, reasoner seed) in `<out>/explain__*.json`.

The tasks are written once (`reason.py make-data --seed 1`, 2,100 training series and 350 each
for test and held-out, 96 steps x 3 channels) under the grid's expe folder. Every cell
(row, seed) runs in its own process; its record lands in `<out>/<cell>.json`, and a rerun
skips the cells already there with the same flags.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.config import Config  # noqa: E402
from lib.data.reasoning import QUESTION_TYPES  # noqa: E402
from lib.errors import UserError, cli_main  # noqa: E402
from lib.train.reasoning import VAL_SHARE  # noqa: E402
from scripts.benchmark import FULL, fmt, mean_std, measured, rewrite_block  # noqa: E402

ROWS = {   # row -> reason.py train flags; the LLM is the bundled SmolLM2's first --llm_layers (6)
    "TSLM: encoder + SmolLM2 (frozen)": ["--rs_model", "tslm"],
    # the frozen LLM in bfloat16: beside float32 over the same seeds, to see whether it changes the answers
    "TSLM, LLM in bf16": ["--rs_model", "tslm", "--llm_dtype", "bfloat16"],
    "TSLM, random-init LLM": ["--rs_model", "tslm", "--llm_pretrained", "False"],
    "encoder + linear head (no LLM)": ["--rs_model", "encoder_head"],
    "SmolLM2 reads the numbers, zero-shot": ["--rs_model", "tslm", "--rs_series_as_text", "True", "--epochs", "0"],
    "SmolLM2 reads the numbers, LoRA r=8": ["--rs_model", "tslm", "--rs_series_as_text", "True", "--llm_lora_r", "8"],
    "random forest on window statistics": ["--rs_model", "stats_forest"],
    "majority": ["--rs_model", "majority"],
}
LLM_CONTROLS = ("TSLM, random-init LLM", "SmolLM2 reads the numbers, zero-shot", "SmolLM2 reads the numbers, LoRA r=8")
SEEDS = (1, 2, 3)
COMMON = ["--epochs", "3"]


def cells(rows: list[str] | None, seeds: list[int] | None) -> list[tuple[str, int]]:
    """(row, seed), seeds outermost; the LLM-based controls on the first seed only."""
    return [(row, s) for s in (seeds or SEEDS) for row in ROWS if (not rows or row in rows)
            and (s == SEEDS[0] or row not in LLM_CONTROLS)]


def safe_name(text: str) -> str:
    """`text` as a file name: every character other than a letter or digit becomes '-'."""
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-")


def stem(row: str, seed: int) -> str:
    return f"{safe_name(row)}__seed{seed}"


def flags(row: str, seed: int, data: Path, expe: Path, prefix: str = "") -> list[str]:
    return ["--rs_data", str(data), "--seed", str(seed), *COMMON, *ROWS[row], "--expe_dir",
            str(expe / (prefix + stem(row, seed)))]


def trained(row: str) -> bool:
    """Rows that train for epochs (the classical controls fit at once; zero-shot trains nothing)."""
    return ROWS[row][1] in ("tslm", "encoder_head") and "--epochs" not in ROWS[row]


EXPLAINER = next(iter(ROWS))   # the time-series language model
DETECTOR = ["--pred_model", "gat", "--recon_model", "ae"]
EXPLAIN_DATA = {   # name -> (data flags, run.py's training flags)
    "synthetic": (["--data", "synthetic"], ["--epochs", "5"]),   # the demo's run
    "SMD machine-1-2": (["--data", "SMD", "--entity", "machine-1-2"], FULL.train),   # the detection grid's budget
}


# What the default and the full-size setting cost: one epoch of the TSLM on a small task set
# (COST_TASKS), in training seconds per question and answering seconds per question.
COST_ROWS = {
    "6 layers, frozen, float32 (the grid's)": [],
    "6 layers, frozen, bfloat16": ["--llm_dtype", "bfloat16"],
    "all 30 layers, LoRA r=8, float32": ["--llm_layers", "30", "--llm_lora_r", "8"],
    "all 30 layers, LoRA r=8, bfloat16": ["--llm_layers", "30", "--llm_lora_r", "8", "--llm_dtype", "bfloat16"],
}
COST_TASKS = ["--rs_n_train", "20", "--rs_n_eval", "8"]   # 18 training series (72 questions), 8 per eval split


def training_questions(n_series: int) -> int:
    """Questions trained on per epoch: the series not held back for validation, each asked every type."""
    return (n_series - max(1, int(n_series * VAL_SHARE))) * len(QUESTION_TYPES)


def make_data(data: Path, data_root: str, log: Path, extra: list[str] = ()) -> None:
    if not (ROOT / data / "heldout.jsonl").is_file():
        measured([sys.executable, "reason.py", "make-data", "--rs_data", str(data), "--seed", "1",
                  "--data_root", data_root, *extra], log)


def cost_cell(row: str, data_root: str, expe: Path, out: Path) -> dict:
    """One epoch of the TSLM in `row`'s setting on the small task set; its costs per question."""
    data = expe / "cost_data"
    make_data(data, data_root, ROOT / expe / "cost_make_data.log", COST_TASKS)
    folder = expe / f"cost__{safe_name(row)}"
    cell_flags = ["--rs_data", str(data), "--seed", "1", "--epochs", "1", *ROWS[EXPLAINER], *COST_ROWS[row],
                  "--expe_dir", str(folder)]
    log = ROOT / folder / "bench.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    wall, peak_gb = measured([sys.executable, "reason.py", "train", *cell_flags], log)
    (result,) = (ROOT / folder / "results" / "reasoning").glob("*.json")
    res = json.loads(result.read_text())
    lines = lambda split: sum(1 for _ in open(ROOT / data / f"{split}.jsonl"))
    train_s = res["training"]["history"][0]["seconds"] / training_questions(lines("train"))
    record = {"row": row, "flags": cell_flags, "git_commit": res["git_commit"], "wall_seconds": wall,
              "peak_gb": peak_gb, "parameters": res["training"]["parameters"], "train_s_per_question": train_s,
              "answer_s_per_question": res["scores"]["test"]["seconds"] / (lines("test") * len(QUESTION_TYPES)),
              "grid_epoch_hours": train_s * training_questions(Config().rs_n_train) / 3600}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"cost__{safe_name(row)}.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def cost_row(row: str, recs: list[dict]) -> str:
    (r,) = recs
    p = r["parameters"]
    return (f"| {row} | {p['trainable']:,} / {p['total']:,} | {r['train_s_per_question']:.2f} | "
            f"{r['grid_epoch_hours']:.2f} | {r['answer_s_per_question']:.2f} | {r['peak_gb']:.2f} |")


def cost_table(records: list[dict]) -> str:
    head = ["setting", "trainable / total parameters", "training s / question", "an epoch of the grid's tasks (h)",
            "answering s / question", "peak GB"]
    return grouped_table(head, records, "row", COST_ROWS, cost_row)


def run_cell(row: str, seed: int, data: Path, expe: Path, out: Path) -> dict:
    cell_flags = flags(row, seed, data, expe)
    log = ROOT / expe / stem(row, seed) / "bench.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    wall, peak_gb = measured([sys.executable, "reason.py", "train", *cell_flags], log)
    (result,) = (ROOT / expe / stem(row, seed) / "results" / "reasoning").glob("*.json")
    res = json.loads(result.read_text())
    record = {"row": row, "seed": seed, "flags": cell_flags, "wall_seconds": wall, "peak_gb": peak_gb,
              "git_commit": res["git_commit"], "training": res["training"], "scores": res["scores"]}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem(row, seed)}.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def explain_cell(name: str, seed: int, data_root: str, expe: Path, out: Path) -> dict | None:
    """Train the detector once per dataset, then score it with `test.py --explain text` and the
    seed's TSLM; the record of `explanation_scores`. None (said) where the reasoner's checkpoint
    is not on this machine."""
    found = sorted((ROOT / expe / stem(EXPLAINER, seed) / "pth").glob("*.pth"))
    if not found:
        print(f"    no checkpoint of '{EXPLAINER}', seed {seed}, under {expe}: run the grid first; skipped")
        return None
    data_flags, train_flags = EXPLAIN_DATA[name]
    folder = expe / f"explain__{safe_name(name)}"
    common = [*data_flags, "--data_root", data_root, *DETECTOR, "--expe_dir", str(folder)]
    log = ROOT / folder / "bench.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    measured([sys.executable, "run.py", *common, *train_flags, "--resume", "True"], log)
    test_flags = [*common, "--explain", "text", "--reasoner", str(found[-1])]
    wall, peak = measured([sys.executable, "test.py", *test_flags], log)
    (result,) = (ROOT / folder / "results").glob("*.json")
    res = json.loads(result.read_text())
    if "words_scores" not in res["root_cause"]:
        raise UserError(f"{result}: test.py wrote no words_scores (does {name} have labelled segments?)")
    record = {"data": name, "seed": seed, "flags": {"run": [*common, *train_flags], "test": test_flags},
              "git_commit": res["git_commit"], "test_wall_seconds": wall, "test_peak_gb": peak,
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
        f"| {row}", str(len(recs)), fmt(stat(lambda x: x["kind_choice"]["accuracy"]), "{:.3f}"),
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
        fmt(mean_std([r["peak_gb"] for r in recs]), "{:.2f}") + " |"])


def table(records: list[dict], split: str) -> str:
    head = ["row", "seeds", "kind acc. (choice)", "kind acc. (free)", "kind macro-F1", "parse failures", "channel acc.",
            "onset acc.", "onset error (steps)", "rationale rubric", "shuffled series: kind acc.",
            "anomaly removed: 'none'", "trainable params", "train s", "peak GB"]
    return grouped_table(head, records, "row", ROWS, lambda row, recs: grid_row(row, recs, split))


def write_report(out: Path, doc: Path) -> None:
    records = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))
               if not p.name.startswith(("explain__", "cost__"))]
    explained = [json.loads(p.read_text()) for p in sorted(out.glob("explain__*.json"))]
    costs = [json.loads(p.read_text()) for p in sorted(out.glob("cost__*.json"))]
    rewrite_block(doc, "reasoning-cost", "\n".join([
        f"`python scripts/bench_reasoning.py --data_root ../shared/datasets --full_cost` measured this table "
        f"(code at {', '.join(sorted({r['git_commit'][:7] for r in costs})) or '-'}).", "", cost_table(costs)]))
    rewrite_block(doc, "reasoning-explain", "\n".join([
        f"`python scripts/bench_reasoning.py --report_only` wrote this table from {len(explained)} cells (code at "
        f"{', '.join(sorted({r['git_commit'][:7] for r in explained})) or '-'}).", "", explain_table(explained)]))
    commits = sorted({r["git_commit"][:7] for r in records})
    rewrite_block(doc, "reasoning-grid", "\n".join([
        f"`python scripts/bench_reasoning.py --report_only` wrote these tables from the cells in "
        f"`{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}` ({len(records)} cells, code at "
        f"{', '.join(commits) or '-'}).", "", "### In distribution (test split)", "", table(records, "test"), "",
        "### Held out: larger magnitudes, longer segments, other backgrounds", "", table(records, "heldout")]))


def estimate(data: Path, expe: Path) -> None:
    """One epoch of each trained row on the grid's tasks; the grid's projected CPU time at 3 epochs."""
    total = 0.0
    for row in ROWS:
        log = ROOT / expe / ("estimate__" + stem(row, 1)) / "bench.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        cmd = flags(row, 1, data, expe, "estimate__") + (["--epochs", "1"] if trained(row) else [])
        wall, _ = measured([sys.executable, "reason.py", "train", *cmd], log)
        n = sum(1 for r, _ in cells(None, None) if r == row)
        total += n * wall * (3 if trained(row) else 1)   # an upper bound: loading and scoring counted 3 times
        print(f"{row:40s}: one run of one epoch {wall:7.0f} s; {n} cells", flush=True)
    print(f"the grid: at most {total / 3600:.1f} CPU hours (3 epochs a trained cell)")


@cli_main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_root", default="../shared/datasets")
    parser.add_argument("--rows", nargs="*", choices=list(ROWS))
    parser.add_argument("--seeds", nargs="*", type=int)
    parser.add_argument("--out", type=Path, default=ROOT / "expe" / "results" / "bench_reasoning")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "REASONING.md")
    parser.add_argument("--expe_dir", type=Path, default=Path("expe") / "bench_reasoning")
    parser.add_argument("--estimate", action="store_true", help="time one epoch of each row; print the grid's cost")
    parser.add_argument("--report_only", action="store_true", help="rewrite the tables from the cells run so far")
    parser.add_argument("--explain", action="store_true", help="after the grid: the trained TSLM explains the "
                        "alarms of STAMP's detector on synthetic data and SMD machine-1-2")
    parser.add_argument("--full_cost", action="store_true", help="only: time one epoch of the TSLM at the default "
                        "and the full size (30 layers, LoRA), float32 and bfloat16, on a small task set")
    args = parser.parse_args()
    data = args.expe_dir / "data"
    if args.full_cost:
        for row in COST_ROWS:
            if (args.out / f"cost__{safe_name(row)}.json").is_file():
                continue
            print(f"cost: {row}", flush=True)
            rec = cost_cell(row, args.data_root, args.expe_dir, args.out)
            print(f"    training {rec['train_s_per_question']:.2f} s / question, answering "
                  f"{rec['answer_s_per_question']:.2f} s / question", flush=True)
    elif not args.report_only:
        make_data(data, args.data_root, ROOT / args.expe_dir / "make_data.log")
        if args.estimate:
            estimate(data, args.expe_dir)
            return
        todo = cells(args.rows, args.seeds)
        for i, (row, seed) in enumerate(todo, 1):
            path = args.out / f"{stem(row, seed)}.json"
            if path.is_file() and json.loads(path.read_text())["flags"] == flags(row, seed, data, args.expe_dir):
                continue
            print(f"[{i}/{len(todo)}] {row}, seed {seed}", flush=True)
            rec = run_cell(row, seed, data, args.expe_dir, args.out)
            print(f"    kind accuracy {rec['scores']['test']['kind_choice']['accuracy']:.3f} (test), "
                  f"{rec['scores']['heldout']['kind_choice']['accuracy']:.3f} (held out); {rec['wall_seconds']:.0f} s",
                  flush=True)
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
