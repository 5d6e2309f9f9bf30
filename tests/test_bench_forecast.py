"""scripts/bench_forecast.py: its grid, and the tables it writes from cell records."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from scripts import bench_forecast as bf
from scripts import benchmark


def record(group, dataset, row, horizon, percent, seed, mse, mae=0.5):
    cell = bf.Cell(group, dataset, row, horizon, percent, seed)
    return {"cell": cell.__dict__, "flags": cell.flags("data", Path("expe")), "wall_seconds": 10.0, "peak_gb": 1.0,
            "git_commit": "abcdef0123", "metrics": {"mse": mse, "mae": mae, "test_samples": 1},
            "training": {"parameters": {"trainable": 10, "total": 100}, "seconds_per_epoch": 1.5, "fit_seconds": 4.0,
                         "history": [{"seconds": 1.5, "val_seconds": 0.5}] * 2}, "config": {}}


def test_the_grid_has_distinct_cells_and_each_ablation_adds_its_flag_to_llm_ps():
    cells = bf.grid(["cheap", "fewshot", "ablations", "full_llm"])
    assert len({c.stem for c in cells}) == len(cells)
    # per dataset: 2 naive rows x 4 horizons, 2 DLinear rows x 4 horizons x 3 seeds, PatchTST 4 horizons x 3 seeds
    assert sum(c.group == "cheap" for c in cells) == (2 * 4 + 2 * 4 * 3 + 4 * 3) * 2
    lora = next(c for c in cells if c.row == "LoRA r=8").flags("d", Path("e"))
    assert lora[lora.index("--model") + 1] == "llm_ps" and lora[-4:-2] == ["--llm_lora_r", "8"]
    assert all("--percent" in c.flags("d", Path("e")) for c in cells)
    assert {c.seed for c in cells if c.group == "full_llm"} == {1}
    assert bf.UNCHANGED not in {c.row for c in cells}   # read from the few-shot cell, not run twice


def test_tier_1_has_every_setting_at_seed_1_and_every_seed_where_the_comparisons_sit():
    one, two = bf.tier1(["cheap", "fewshot", "ablations", "full_llm"]), bf.tier2(["cheap", "fewshot", "ablations",
                                                                                   "full_llm"])
    assert not set(one) & set(two)
    few = {(c.row, c.dataset, c.horizon, c.seed) for c in one if c.group == "fewshot"}
    assert len(few) == 4 * 2 * 2 + 4 * 2 and ("LLM-PS", "ETTh1", 96, 3) in few and ("LLM-PS", "ETTh2", 96, 2) not in few
    assert {c.seed for c in one if c.group == "ablations"} == {1} and not any(c.group == "full_llm" for c in two)
    assert [(c.group, c.seed) for c in one][-2:] == [("full_llm", 1)] * 2   # every table filled once, the costliest last
    assert {c.seed for c in one if c.row == "PatchTST" and c.group == "cheap"} == {1}
    assert [c.row for c in two][-6:] == list(bf.BF16_ROWS) * 3   # the bf16 rows come last
    assert all(not (set(c.row.split()) & {"(bf16)"}) or "bfloat16" in c.flags("d", Path("e")) for c in one + two)


def comparison_records(shift: float) -> list[dict]:
    """Few-shot ETTh1-96, float32 and bf16 LLM rows, seeds 1-3: float32 MSE 0.50/0.52/0.54 (std
    0.02), bf16 the same + shift."""
    return [record("fewshot", "ETTh1", row, 96, 10, s, mse=0.48 + 0.02 * s + shift * (row in bf.BF16_ROWS))
            for s in bf.SEEDS for row in (*bf.FLOAT_ROWS, *bf.BF16_ROWS)]


def test_the_bf16_comparison_waits_for_every_seed_then_sets_the_gap_against_seed_noise():
    recs = comparison_records(0.01)
    assert bf.bf16_comparison(recs[:-1]) is None
    assert ("LLM-PS MSE, float32 against bfloat16: 0.520 (3 seeds) against 0.530 (3 seeds): +1.9 %, "
            "within seed noise (0.020)") in bf.bf16_comparison(recs)
    assert "Time-LLM MSE, float32 against bfloat16: 0.520 (3 seeds) against 0.570 (3 seeds): +9.6 %, beyond seed noise" \
        in bf.bf16_comparison(comparison_records(0.05))[0]


def test_the_computed_comparisons_set_each_llm_row_against_the_better_cheap_row_and_each_ablation_against_llm_ps():
    recs = comparison_records(0.0) + [record("fewshot", "ETTh1", "DLinear", 96, 10, s, mse=0.45) for s in bf.SEEDS] \
        + [record("fewshot", "ETTh1", "PatchTST", 96, 10, 1, mse=0.60),
           record("ablations", "ETTh1", "no LLM layers (identity)", 96, 10, 1, mse=0.53)]
    cells = bf.by_cell(recs)
    cells[("ablations", "ETTh1", bf.UNCHANGED, 96, 10)] = cells[("fewshot", "ETTh1", "LLM-PS", 96, 10)]
    lines = bf.llm_comparisons(cells)
    assert ("Few-shot ETTh1-96, MSE of DLinear against LLM-PS: 0.450 (3 seeds) against 0.520 (3 seeds): +15.6 %, "
            "beyond seed noise (0.020); training 4 s against 4 s") in lines
    assert ("Ablation, few-shot ETTh1-96, MSE of LLM-PS against no LLM layers (identity): 0.520 (3 seeds) against "
            "0.530 (1 seed): +1.9 %, within seed noise (0.020; the other row has 1 seed)") in lines
    assert ("Few-shot ETTh1-96, MSE of Time-LLM against LLM-PS: 0.520 (3 seeds) against 0.520 (3 seeds): +0.0 %, "
            "within seed noise (0.020)") in lines   # Time-LLM is LLM-PS without its two modules
    assert len(lines) == 4   # nothing where one side has no cells
    lone = bf.against_noise(recs[:1], recs[1:2], "mse")
    assert lone.endswith("seed noise not measured")


def test_the_ablation_table_reads_its_unchanged_row_from_the_few_shot_cells():
    recs = comparison_records(0.01) + [record("ablations", "ETTh1", "no T2T", 96, 10, s, mse=0.7) for s in bf.SEEDS]
    text = bf.report(recs)
    ablations = text[text.index("### Ablations"):]
    unchanged = next(l for l in ablations.splitlines() if l.startswith(f"| ETTh1 | 96 | {bf.UNCHANGED} |"))
    assert "| 3 | 0.520 ± 0.020 |" in unchanged and "0.586" in unchanged   # the float32 cells, the paper's figure
    assert "The bf16 comparison (few-shot ETTh1-96, seeds 1-3):" in text


def test_a_resumed_cell_counts_the_epochs_of_every_process_it_ran_in():
    resumed = record("fewshot", "ETTh2", "LLM-PS", 336, 10, 1, mse=0.5)
    # its last process ran epoch 2 alone (fit 2.1 s, wall 3 s); epoch 1 ran in the process before
    resumed["training"].update(fit_seconds=2.1, resumed_after_epoch=1)
    line = bf.detail_table(bf.by_cell([resumed]), "fewshot", ["LLM-PS"], ("ETTh2",), (336,), 10)
    assert line.splitlines()[-1].split(" | ")[9] == "4"   # training (s): both epochs, 2 s each
    assert benchmark.resumed_wall(3.0, resumed["training"]) == 5.0
    assert benchmark.resumed_wall(3.0, {"history": [], "fit_seconds": 0.0}) == 3.0   # a naive model


def test_a_resumed_cell_keeps_the_peak_memory_of_every_process_or_marks_it_a_lower_bound():
    resumed = record("fewshot", "ETTh2", "LLM-PS", 336, 10, 1, mse=0.5)
    history = [{"seconds": 1.5, "val_seconds": 0.5, "peak_gb": gb} for gb in (2.5, 1.0)]
    resumed["training"].update(history=history, resumed_after_epoch=1)
    assert benchmark.resumed_peak(1.5, resumed["training"]) == (2.5, True)   # epoch 1's process peaked higher
    assert benchmark.fmt_peak([{**resumed, "peak_gb": 1.5}]) == "2.50"
    del history[0]["peak_gb"]                       # an epoch recorded before epochs kept their peak
    assert benchmark.resumed_peak(1.5, resumed["training"]) == (1.5, False)
    assert benchmark.fmt_peak([{**resumed, "peak_gb": 1.5}]) == "≥ 1.50"
    resumed["training"]["resumed_after_epoch"] = 0  # one process: its own peak covers it
    assert benchmark.resumed_peak(1.5, resumed["training"]) == (1.5, True)


def test_the_cheap_table_averages_horizons_per_seed_then_seeds(tmp_path):
    recs = [record("cheap", "ETTh1", "DLinear", h, 100, s, mse=0.1 * s + h / 1000)
            for h in bf.HORIZONS for s in (1, 2)]
    out = tmp_path / "cells"
    out.mkdir()
    for r in recs:
        (out / f"{bf.Cell(**r['cell']).stem}.json").write_text(json.dumps(r))
    doc = tmp_path / "F.md"
    doc.write_text("intro\n<!-- forecast-grid:start -->\nold\n<!-- forecast-grid:end -->\nafter\n")
    bf.write_report(out, doc)
    text = doc.read_text()
    avg = sum(bf.HORIZONS) / 4 / 1000
    line = next(l for l in text.splitlines() if l.startswith("| ETTh1 | DLinear |"))
    assert f"{0.15 + avg:.3f} ± {0.0707:.3f} / 0.500" in line and "0.456 / 0.452" in line
    assert "old" not in text and text.endswith("after\n") and "8 cells" in text
def test_run_grid_runs_tier_1_first_and_resumes_where_it_stopped(tmp_path, monkeypatch):
    ran: list[bf.Cell] = []

    def fake_run(cell, data_root, out, expe):
        ran.append(cell)
        r = record(cell.group, cell.dataset, cell.row, cell.horizon, cell.percent, cell.seed, mse=0.5)
        r["flags"] = cell.flags(data_root, expe)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{cell.stem}.json").write_text(json.dumps(r))
        return r

    monkeypatch.setattr(bf, "run_cell", fake_run)
    monkeypatch.setattr(bf, "present", lambda dataset, root: True)
    args = argparse.Namespace(out=tmp_path, groups=["ablations"], rows=None, seeds=None, data_root="d",
                              expe_dir=Path("e"), max_hours=0)
    bf.run_grid(args)
    assert ran == bf.tier1(["ablations"]) + bf.tier2(["ablations"]) and len(ran) == 3 * len(bf.ABLATIONS)
    bf.run_grid(args)   # resumes: nothing left
    assert len(ran) == 3 * len(bf.ABLATIONS)


def test_the_estimate_times_only_missing_probes_saves_each_and_projects_each_tier(tmp_path, monkeypatch, capsys):
    probe = lambda train, val, rest: {"train_full": train, "val": val, "rest": rest, "git_commit": "abcdef0123",
                                      "timed_on": "2026-12-01", "machine": "a CPU"}
    saved = tmp_path / "estimate" / "probes.json"
    saved.parent.mkdir()
    saved.write_text(json.dumps({"DLinear": probe(1.0, 0.0, 0.0), "Time-LLM": probe(100.0, 10.0, 20.0)}))
    timed: list[str] = []

    def fake_probe(row, percent, data_root, expe):
        timed.append(row)
        return probe(100.0, 10.0, 20.0)

    monkeypatch.setattr(bf, "ESTIMATE_FILE", saved)
    monkeypatch.setattr(bf, "time_probe", fake_probe)
    monkeypatch.setattr(bf, "present", lambda dataset, root: True)
    args = argparse.Namespace(out=tmp_path / "cells", groups=["full_llm", "fewshot"], rows=None, seeds=None,
                              data_root="d", expe_dir=Path("e"), max_hours=0, retime=False, probes=["LLM-PS"])
    bf.estimate(args)
    text = capsys.readouterr().out
    assert timed == ["LLM-PS"] and set(json.loads(saved.read_text())) == {"DLinear", "Time-LLM", "LLM-PS"}
    # tier 1's full-data cells: 10 x (100 + 10) + 20 s each
    assert f"  1  full_llm   {2 * 1120 / 3600:6.1f} {2 * 1120 / 3600:6.1f}" in text
    assert "(2026-12-01, abcdef0, a CPU)" in text
    assert "not counted: LLM-PS (bf16), PatchTST, Time-LLM (bf16), no probe" in text


def test_the_estimate_does_not_time_bf16_where_the_machine_emulates_it(tmp_path, monkeypatch, capsys):
    timed: list[str] = []
    monkeypatch.setattr(bf, "ESTIMATE_FILE", tmp_path / "probes.json")
    monkeypatch.setattr(bf, "time_probe", lambda row, *a: timed.append(row) or {
        "train_full": 1.0, "val": 1.0, "rest": 1.0, "git_commit": "abcdef0", "timed_on": "today"})
    monkeypatch.setattr(bf, "present", lambda dataset, root: True)
    monkeypatch.setattr(benchmark, "native_bf16", lambda: False)
    args = argparse.Namespace(out=tmp_path / "cells", groups=["fewshot"], rows=None, seeds=None, data_root="d",
                              expe_dir=Path("e"), max_hours=0, retime=False, probes=None)
    bf.estimate(args)
    assert timed == ["DLinear", "PatchTST", "Time-LLM", "LLM-PS"]
    assert "Time-LLM (bf16): not timed" in capsys.readouterr().out


def test_run_grid_skips_bf16_cells_where_the_machine_emulates_bf16(tmp_path, monkeypatch, capsys):
    ran: list[bf.Cell] = []
    monkeypatch.setattr(bf, "run_cell", lambda cell, *a: ran.append(cell) or record(
        cell.group, cell.dataset, cell.row, cell.horizon, cell.percent, cell.seed, mse=0.5))
    monkeypatch.setattr(bf, "present", lambda dataset, root: True)
    args = argparse.Namespace(out=tmp_path, groups=["fewshot"], rows=["Time-LLM", "Time-LLM (bf16)"], seeds=[1],
                              data_root="d", expe_dir=Path("e"), max_hours=0)
    for native in (False, True):
        monkeypatch.setattr(benchmark, "native_bf16", lambda: native)
        ran.clear()
        bf.run_grid(args)
        in_bf16 = [c for c in ran if c.row == "Time-LLM (bf16)"]
        assert any(c.row == "Time-LLM" for c in ran) and bool(in_bf16) == native
        out = capsys.readouterr().out
        assert ("skipped: 1 cells with the LLM in bfloat16" in out) != native
        assert "[1/5] " in out and f"[{len(ran)}/5] " in out and f"[{len(ran) + 1}/5]" not in out   # the skipped cell is not counted as run
