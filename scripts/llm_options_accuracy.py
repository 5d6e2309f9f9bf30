"""What the LLM branch's speed options cost in accuracy: one small grid of
`run.py` + `test.py` runs with the bundled SmolLM2, each option changed alone.

    python scripts/llm_options_accuracy.py                  # synthetic data, about 10 min on 2 cores
    python scripts/llm_options_accuracy.py --data SMD --entity machine-1-2 --data_root DIR

Rows (all `--pred_model llm --recon_model ae`, the same seed and epochs):
- base: the defaults (float32, 6 layers, full vocabulary), --max_train_windows;
- scored in bfloat16: the base checkpoint, `test.py --llm_dtype bfloat16`;
- trained (and so scored) in bfloat16;
- 3 layers;
- a vocabulary subset for the prototype map;
- a quarter of the training windows.

Columns: best-F1 with point adjustment (the STAMP protocol, an oracle
threshold), the test forecast MAE of the prediction branch (threshold-free),
training and scoring wall time. Writes `<out>/options.json` and prints a
markdown table. An interrupted grid continues where it stopped (delete
`<out>` to start again).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BF16 = ["--llm_dtype", "bfloat16"]
# name, extra run.py flags (None: score the base checkpoint again), extra test.py flags, share of training windows.
# Past the first row every model is scored in bfloat16 (the second row measures what that changes), so
# rows 3-6 each change one thing against row 2.
VARIANTS = (
    ("base (float32, 6 layers)", [], [], 1.0),
    ("base, scored in bfloat16", None, BF16, 1.0),
    ("trained in bfloat16", BF16, [], 1.0),
    ("3 layers", ["--llm_layers", "3"], BF16, 1.0),
    ("vocabulary subset 8192", ["--llm_vocab_subset", "8192"], BF16, 1.0),
    ("1/4 of the training windows", [], BF16, 0.25),
)


def run(script: str, flags: list[str]) -> float:
    """Run `script` with `flags`; wall seconds. A failure stops the grid with its last lines."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, str(ROOT / script), *flags], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{script} {' '.join(flags)} failed:\n{out.stderr[-2000:]}")
    return time.perf_counter() - t0


def result_of(expe: Path) -> dict:
    (path,) = (expe / "results").glob("*.json")
    return json.loads(path.read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="synthetic")
    p.add_argument("--entity", default="")
    p.add_argument("--data_root", default="")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max_train_windows", type=int, default=1600)
    p.add_argument("--out", type=Path, default=Path("expe/llm_options"))
    a = p.parse_args()
    common = ["--data", a.data, "--pred_model", "llm", "--recon_model", "ae", "--epochs", str(a.epochs)]
    common += ["--entity", a.entity] * bool(a.entity) + ["--data_root", a.data_root] * bool(a.data_root)
    rows = []
    for i, (name, train_flags, test_flags, share) in enumerate(VARIANTS):
        done = a.out / f"v{i}_row.json"
        if done.exists():  # finished by an earlier, interrupted call
            rows.append(json.loads(done.read_text()))
            continue
        expe, train_s = a.out / f"v{i}", None
        if train_flags is None:
            expe = a.out / "v0"
        else:
            windows = str(int(a.max_train_windows * share))
            train_s = run("run.py", common + train_flags + ["--max_train_windows", windows, "--expe_dir", str(expe)])
        (ckpt,) = (expe / "pth").glob("best_*.pth")
        score_dir = a.out / f"v{i}_scored"  # test.py writes its result here, leaving the checkpoint's folder alone
        test_s = run("test.py", common + test_flags + ["--checkpoint", str(ckpt), "--expe_dir", str(score_dir)])
        r = result_of(score_dir)
        rows.append({"variant": name, "f1_pa": r["metrics"]["f1"], "pred_mae": r["test_errors"]["pred_mae"],
                     "train_s": train_s, "test_s": test_s, "windows_per_s": r["inference"]["windows_per_s"]})
        done.write_text(json.dumps(rows[-1]))
        print(f"{name}: {rows[-1]}", file=sys.stderr, flush=True)
    (a.out / "options.json").write_text(json.dumps({"args": vars(a) | {"out": str(a.out)}, "rows": rows}, indent=2))
    print(markdown(rows))


def markdown(rows: list[dict]) -> str:
    lines = ["| option | F1 (PA) | test forecast MAE | train wall s | test wall s | scoring windows/s |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        train = "(base checkpoint)" if r["train_s"] is None else f"{r['train_s']:.0f}"
        lines.append(f"| {r['variant']} | {r['f1_pa']:.3f} | {r['pred_mae']:.4f} | {train} | {r['test_s']:.0f} | "
                     f"{r['windows_per_s']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
