"""scripts/bench_forecast.py: its grid, and the tables it writes from cell records."""
from __future__ import annotations

import json
from pathlib import Path

from scripts import bench_forecast as bf


def record(group, dataset, row, horizon, percent, seed, mse, mae=0.5):
    cell = bf.Cell(group, dataset, row, horizon, percent, seed)
    return {"cell": cell.__dict__, "flags": cell.flags("data", Path("expe")), "wall_seconds": 10.0, "peak_gb": 1.0,
            "git_commit": "abcdef0123", "metrics": {"mse": mse, "mae": mae, "test_samples": 1},
            "training": {"parameters": {"trainable": 10, "total": 100}, "seconds_per_epoch": 2.0,
                         "history": [{}, {}]}, "config": {}}


def test_the_grid_has_distinct_cells_and_each_ablation_adds_its_flag_to_llm_ps():
    cells = bf.grid(["cheap", "fewshot", "ablations", "full_llm"])
    assert len({c.stem for c in cells}) == len(cells)
    assert sum(c.group == "cheap" for c in cells) == (2 * 1 + 3 * 3) * 2 * 4
    lora = next(c for c in cells if c.row == "LoRA r=8").flags("d", Path("e"))
    assert lora[lora.index("--model") + 1] == "llm_ps" and lora[-4:-2] == ["--llm_lora_r", "8"]
    assert all("--percent" in c.flags("d", Path("e")) for c in cells)


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
