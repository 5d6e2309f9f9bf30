"""scripts/bench_reasoning.py: its cells and the tables it writes from their records."""
from __future__ import annotations

import json
from pathlib import Path

from scripts import bench_reasoning as br


def split_scores(acc: float) -> dict:
    label = {"accuracy": acc, "macro_f1": acc, "parse_failure": 0.0, "n": 7}
    return {"kind_choice": label, "kind_free": label, "channel": label, "onset": label, "onset_error_steps": 2.0,
            "grounding": {"shuffled_accuracy": 0.14, "removed_answered_none": 0.9}}


def test_llm_controls_run_one_seed_and_every_cell_has_its_own_folder():
    cells = br.cells(None, None)
    assert sum(r in br.LLM_CONTROLS for r, _ in cells) == len(br.LLM_CONTROLS)
    assert len({br.stem(r, s) for r, s in cells}) == len(cells) == 4 * 3 + 3
    f = br.flags("majority", 2, Path("d"), Path("e"))
    assert f[f.index("--expe_dir") + 1] == str(Path("e") / "majority__seed2")
    assert br.trained("encoder + linear head (no LLM)") and not br.trained("SmolLM2 reads the numbers, zero-shot")


def test_the_tables_average_seeds(tmp_path):
    out = tmp_path / "cells"
    out.mkdir()
    for seed, acc in ((1, 0.5), (2, 0.7)):
        rec = {"row": "majority", "seed": seed, "flags": [], "wall_seconds": 3.0, "peak_gb": 0.5,
               "git_commit": "abc1234def", "training": {"parameters": {"trainable": 0}},
               "scores": {"test": split_scores(acc), "heldout": split_scores(acc / 2)}}
        (out / f"{br.stem('majority', seed)}.json").write_text(json.dumps(rec))
    doc = tmp_path / "R.md"
    doc.write_text("a\n<!-- reasoning-grid:start -->\n<!-- reasoning-grid:end -->\nb\n")
    br.write_report(out, doc)
    text = doc.read_text()
    line = next(l for l in text.splitlines() if l.startswith("| majority | 2 | 0.600 ± 0.141"))
    assert "0.140" in line and "0.900" in line and "(2 cells, code at abc1234)" in text
