"""Where the LLM branch's time goes on this machine: SMD-sized input (38
features, window 15, horizon 3), the bundled SmolLM2 cut to --layers layers.

    python scripts/bench_llm_speed.py                 # every case, a markdown table
    python scripts/bench_llm_speed.py --quick         # fewer repetitions, small batches

Each case runs in its own process (timings taken after large allocations in
one process drift), and reports its peak resident memory. Cases:
- train: one prediction-branch step (forward, backward, Adam) on --batch_size
  windows, prompt cache on and off; the uncached case also checks that both
  paths give the same forecast and gradients;
- infer: scoring windows/s with --eval_windows windows per batch, and the
  minutes one SMD machine's test set (23,680 windows) would take;
- matmul: plain torch.matmul GFLOP/s, to compare with the FLOP/s the LLM
  achieves (FLOPs counted by torch.utils.flop_counter).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.config import Config  # noqa: E402
from lib.hardware import peak_memory_mb  # noqa: E402
from lib.utils import quiet_third_party  # noqa: E402
from model.llm.core import PromptLayout  # noqa: E402
from model.llm.prompts import series_prompts  # noqa: E402
from model.registry import build_pred  # noqa: E402

SMD_FEATURES, SMD_TEST_WINDOWS = 38, 23_680


def smd_config(a: argparse.Namespace, **changes) -> Config:
    base = dict(data="SMD", pred_model="llm", window_size=15, n_pred=3, llm_layers=a.layers, llm_patch_len=4, llm_stride=2,
                dropout=0.0, seed=0)
    return Config(**{**base, **changes})


def timed(fn, reps: int) -> float:
    """Median seconds of `reps` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def case_train(a, mode: str, cache: bool, dtype: str) -> dict:
    cfg = smd_config(a, llm_prompt_mode=mode, llm_prefix_cache=cache, llm_dtype=dtype)
    torch.manual_seed(0)
    model = build_pred(cfg, SMD_FEATURES).train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    x = torch.rand(a.batch_size, cfg.context_len, SMD_FEATURES, 1)

    def step():  # a new batch each time, as in training: row prompts are kept for one batch only
        opt.zero_grad()
        model(torch.rand_like(x)).pow(2).mean().backward()
        opt.step()

    row = {"seconds_per_step": timed(step, a.reps)}
    if not cache:  # the same weights through the cached path: outputs and gradients must agree
        other = build_pred(cfg.replace(llm_prefix_cache=True), SMD_FEATURES).train()
        other.load_state_dict(model.state_dict())
        diffs = []
        for m in (model, other):
            m.zero_grad()
            y = m(x)
            y.pow(2).mean().backward()
            diffs.append((y.detach(), {n: p.grad for n, p in m.named_parameters() if p.requires_grad}))
        row["max_forecast_diff"] = float((diffs[0][0] - diffs[1][0]).abs().max())
        scale = max(float(g.abs().max()) for g in diffs[0][1].values())
        row["max_grad_rel_diff"] = max(float((g - diffs[1][1][n]).abs().max()) for n, g in diffs[0][1].items()) / scale
    return row


def case_infer(a, mode: str, cache: bool, dtype: str, layers: int, windows: int) -> dict:
    cfg = smd_config(a, llm_prompt_mode=mode, llm_prefix_cache=cache, llm_dtype=dtype, llm_layers=layers)
    torch.manual_seed(0)
    model = build_pred(cfg, SMD_FEATURES).eval()
    x = torch.rand(windows, cfg.context_len, SMD_FEATURES, 1)
    with torch.no_grad():
        sec = timed(lambda: model(torch.rand_like(x)), a.reps)  # new windows each time, as in scoring
        row = {"windows_per_s": windows / sec, "smd_test_minutes": SMD_TEST_WINDOWS / (windows / sec) / 60}
        if mode == "dataset" and cache:
            row["llm_gflops"] = llm_gflops(model, x, a.reps)
    return row


def llm_gflops(model, x: torch.Tensor, reps: int) -> float:
    """FLOP/s of the LLM call on the patch tokens alone (the cached dataset-mode path), on one
    scoring chunk of series."""
    f = model.forecaster
    series = x.permute(0, 2, 3, 1).reshape(-1, x.shape[-1], x.shape[1])[: model.infer_rows]
    tokens = f.patch_tokens(series).to(f.llm_dtype)
    lay = PromptLayout.build(f, series_prompts(series[:, 0], "dataset", model.description, model.H, 5),
                             tokens.shape[0], tokens.device)
    counter = FlopCounterMode(display=False)
    with counter:
        f._run_cached(tokens, lay)
    return counter.get_total_flops() / timed(lambda: f._run_cached(tokens, lay), reps) / 1e9


def case_matmul(a, dtype: str) -> dict:
    dt = getattr(torch, dtype)
    m, k, n = 2048, 576, 1536  # patch tokens x SmolLM2 width x its MLP width
    A, B = torch.randn(m, k, dtype=dt), torch.randn(k, n, dtype=dt)
    return {"gflops": 2 * m * k * n / timed(lambda: A @ B, max(a.reps, 5) * 4) / 1e9}


CASES = {
    "train": case_train,
    "infer": case_infer,
    "matmul": case_matmul,
}


def run_case(a, name: str, *args) -> dict:
    """Run one case in a fresh process; its JSON is the last line it prints."""
    cmd = [sys.executable, __file__, "--case", json.dumps([name, *args]), "--layers", str(a.layers),
           "--batch_size", str(a.batch_size), "--reps", str(a.reps), "--threads", str(a.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"case {name}{args} failed:\n{out.stderr[-2000:]}")
    row = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{name} {args}: {row}", file=sys.stderr, flush=True)
    return row


def plan(a) -> list[tuple]:
    w, wu = a.eval_windows, max(a.eval_windows // 8, 2)
    return [("matmul", "float32"), ("matmul", "bfloat16"),
            ("train", "dataset", True, "float32"), ("train", "dataset", False, "float32"),
            ("train", "stats_short", True, "float32"), ("train", "stats_short", False, "float32"),
            ("train", "dataset", True, "bfloat16"),
            ("infer", "dataset", True, "float32", a.layers, w), ("infer", "dataset", False, "float32", a.layers, wu),
            ("infer", "dataset", True, "bfloat16", a.layers, w),
            ("infer", "dataset", True, "bfloat16", max(a.layers // 2, 1), w),
            ("infer", "stats_short", True, "float32", a.layers, wu),
            ("infer", "stats_short", True, "bfloat16", a.layers, wu)]


def markdown(rows: list[tuple[tuple, dict]], a) -> str:
    lines = [f"SmolLM2-135M (bundled), {a.layers} layers unless said, SMD-sized input ({SMD_FEATURES} features, "
             f"window 15, horizon 3), {torch.get_num_threads()} threads.", "",
             "| case | prompt | cache | dtype | layers | result | peak RSS |", "|---|---|---|---|---|---|---|"]
    for (name, *args), r in rows:
        mem = f"{r['peak_mb'] / 1024:.1f} GB"
        if name == "matmul":
            lines.append(f"| plain matmul 2048x576 @ 576x1536 | | | {args[0]} | | {r['gflops']:.0f} GFLOP/s | {mem} |")
        elif name == "train":
            extra = f"; cached vs plain: forecast diff {r['max_forecast_diff']:.1e}, grad diff / max grad " \
                    f"{r['max_grad_rel_diff']:.1e}" if "max_forecast_diff" in r else ""
            lines.append(f"| train step, {a.batch_size} windows | {args[0]} | {args[1]} | {args[2]} | {a.layers} | "
                         f"{r['seconds_per_step']:.2f} s/step{extra} | {mem} |")
        else:
            gf = f", LLM {r['llm_gflops']:.0f} GFLOP/s" if "llm_gflops" in r else ""
            lines.append(f"| scoring, {args[4]} windows/batch | {args[0]} | {args[1]} | {args[2]} | {args[3]} | "
                         f"{r['windows_per_s']:.1f} windows/s = {r['smd_test_minutes']:.0f} min per SMD test set{gf} "
                         f"| {mem} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--batch_size", type=int, default=8, help="training windows per step")
    p.add_argument("--eval_windows", type=int, default=256, help="windows per scoring batch")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    p.add_argument("--quick", action="store_true", help="one repetition, small batches")
    p.add_argument("--out", type=Path, default=Path("expe/results/bench_llm_speed.json"))
    p.add_argument("--case", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    quiet_third_party()
    if a.case:
        name, *args = json.loads(a.case)
        row = CASES[name](a, *args)
        print(json.dumps({**row, "peak_mb": peak_memory_mb()}))
        return
    if a.quick:
        a.reps, a.batch_size, a.eval_windows = 1, 2, 16
    rows = [(c, run_case(a, *c)) for c in plan(a)]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps([{"case": c, **r} for c, r in rows], indent=2))
    print(markdown(rows, a))


if __name__ == "__main__":
    main()
