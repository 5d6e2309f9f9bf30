"""scripts/bench_reasoning.py: its cells and the tables it writes from their records."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from lib.errors import UserError
from scripts import bench_reasoning as br
from scripts import benchmark


def split_scores(acc: float) -> dict:
    label = {"accuracy": acc, "macro_f1": acc, "parse_failure": 0.0, "n": 7}
    return {"kind_choice": label, "kind_free": label, "channel": label, "onset": label, "onset_error_steps": 2.0,
            "grounding": {"shuffled_accuracy": 0.14, "removed_answered_none": 0.9}}


def test_llm_controls_run_one_seed_and_every_cell_has_its_own_folder():
    cells = br.cells(None, None)
    assert sum(r in br.LLM_CONTROLS for r, _ in cells) == len(br.LLM_CONTROLS)
    # the float32 TSLM, then its twins, last, on one seed: the model's three seeds run in bfloat16
    assert cells[-len(br.LAST):] == [(row, 1) for row in br.LAST]
    assert list(br.LAST) == [br.FLOAT32_TSLM, *br.FLOAT32_TWINS]
    n_main = len(cells) - len(br.LLM_CONTROLS) - len(br.LAST)   # the model and the cheap controls, every seed, first
    assert not any(r in br.LLM_CONTROLS for r, _ in cells[:n_main]) and [s for _, s in cells[:n_main]] == sorted(
        s for _, s in cells[:n_main])
    assert len({br.stem(r, s) for r, s in cells}) == len(cells) == 6 * 3 + len(br.LLM_CONTROLS) + len(br.LAST)
    assert br.cells([br.FLOAT32_TSLM], [2]) == [] and br.cells(["majority"], [2]) == [("majority", 2)]
    for twin, row in br.FLOAT32_TWINS.items():   # the same flags, then float32
        assert row in br.LLM_CONTROLS and br.ROWS[twin] == [*br.ROWS[row], "--llm_dtype", "float32"]
    f = br.flags("majority", 2, Path("d"), Path("e"))
    assert f[f.index("--expe_dir") + 1] == str(Path("e") / "majority__seed2")
    assert br.trained("encoder + linear head (no LLM)") and not br.trained("SmolLM2 reads the numbers, zero-shot (50 series a split)")
    assert br.epochs_of("encoder + linear head (no LLM)") == 20 and br.epochs_of(br.EXPLAINER) == br.DEFAULT_EPOCHS


def report_of(tmp_path: Path, cells: dict[str, dict]) -> str:
    """REASONING.md's two blocks as write_report writes them from these cells (file name -> record)."""
    out = tmp_path / "cells"
    out.mkdir(parents=True)
    for name, rec in cells.items():
        (out / name).write_text(json.dumps(rec))
    doc = tmp_path / "R.md"
    doc.write_text("a\n<!-- reasoning-grid:start -->\n<!-- reasoning-grid:end -->\nb\n" + "".join(
        f"<!-- reasoning-{b}:start -->\n<!-- reasoning-{b}:end -->\n" for b in ("explain", "cost", *br.GRIDS) if b != "main"))
    br.write_report(out, doc)
    return doc.read_text()


def test_the_tables_average_seeds(tmp_path):
    text = report_of(tmp_path, {
        f"{br.stem('majority', seed)}.json": {
            "row": "majority", "seed": seed, "flags": [], "wall_seconds": 3.0, "peak_gb": 0.5,
            "git_commit": "abc1234def", "training": {"parameters": {"trainable": 0}},
            "scores": {"test": split_scores(acc), "heldout": split_scores(acc / 2)}}
        for seed, acc in ((1, 0.5), (2, 0.7))})
    line = next(l for l in text.splitlines() if l.startswith("| majority | 2 | 7 | 0.600 ± 0.141"))
    assert "0.140" in line and "0.900" in line
    cells = len(br.cells(None, None))
    assert f"(2 of the grid's {cells} cells, code at abc1234; timed on a machine not recorded (2 cells, 0.0 h))" in text


def test_the_cells_not_run_are_listed_by_row_with_the_bf16_rows_apart():
    every = br.cells(None, None)
    done = [{"row": row, "seed": seed} for row, seed in every if (row, seed) not in
            {("majority", 3), ("majority", 2), (br.FLOAT32_TSLM, 1), (br.EXPLAINER, 3)}]
    text = br.not_run(done)
    assert text.startswith("Not run yet (4 cells):")
    bf16 = next(l for l in text.splitlines() if "bfloat16" in l)
    other = next(l for l in text.splitlines() if l.startswith("- the others"))
    assert f'"{br.EXPLAINER}" seed 3' in bf16 and "majority" not in bf16   # the model runs in bfloat16
    assert other.endswith(f'"majority" seeds 2, 3; "{br.FLOAT32_TSLM}" seed 1')   # in run order
    assert br.not_run([{"row": r, "seed": s} for r, s in every]) == "Every cell of the grid is run."
    assert "bfloat16" not in br.not_run([], br.EASY)   # the easy task runs its LLM in float32


def test_the_explain_table_averages_reasoner_seeds_and_keeps_explain_cells_out_of_the_grid(tmp_path):
    words = lambda acc: {"alarms": 10, "on_anomaly": 8, "kind_accuracy": acc, "named_hit": 0.25, "top1_hit": 0.5,
                         "topk_contains": 0.75, "false_alarms_said_none": 0.0,
                         "by_kind": {"spike": {"n": 2, "accuracy": acc, "said": {}}}}
    text = report_of(tmp_path, {
        f"explain__{br.stem('synthetic', seed)}.json": {
            "data": "synthetic", "seed": seed, "git_commit": "fedcba9876", "test_wall_seconds": 4.0,
            "words_scores": words(acc)}
        for seed, acc in ((1, 0.5), (2, 1.0))})
    assert "cells, code at -; timed on -)" in text and "from 2 cells (code at fedcba9; timed on" in text
    line = next(l for l in text.splitlines() if l.startswith("| synthetic | 2 | 10 ± 0 | 8 ± 0 |"))
    assert "0.75 ± 0.35 | spike 0.75 ± 0.35 | 0.25 ± 0.00 | 0.50" in line


def test_explain_skips_a_seed_whose_reasoner_is_not_on_this_machine(tmp_path, capsys):
    assert br.explain_cell("synthetic", 1, "", tmp_path / "expe", tmp_path / "out") is None
    assert "run the grid first; skipped" in capsys.readouterr().out


def test_explain_takes_the_trained_reasoner_not_the_training_state(tmp_path, monkeypatch):
    monkeypatch.setattr(br, "ROOT", tmp_path)
    cell = Path("expe") / br.stem(br.EXPLAINER, 1)
    (tmp_path / cell / "pth").mkdir(parents=True)
    (tmp_path / cell / "pth" / "reason_tslm_L6_seed1_last.pth").write_bytes(b"")   # the --resume state
    assert br.trained_reasoner(Path("expe"), 1) is None
    trained = cell / "pth" / "reason_tslm_L6_seed1.pth"   # as reason.py train names it in its result
    (tmp_path / trained).write_bytes(b"")
    (tmp_path / cell / "results" / "reasoning").mkdir(parents=True)
    (tmp_path / cell / "results" / "reasoning" / "tslm_L6_seed1.json").write_text(json.dumps({"checkpoint": str(trained)}))
    # relative, as the grid's expe folder: the explain record names no machine's folders
    assert br.trained_reasoner(Path("expe"), 1) == Path("expe") / br.stem(br.EXPLAINER, 1) / "pth" / "reason_tslm_L6_seed1.pth"


def test_a_missing_doc_is_refused_in_one_line(tmp_path):
    with pytest.raises(UserError, match="no such file to write the tables into"):
        br.write_report(tmp_path, tmp_path / "missing.md")


def probe(row: str, train_s: float | None, **extra) -> dict:
    return {"row": row, "flags": [], "git_commit": "1234567abc", "wall_seconds": 60.0, "peak_gb": 3.25,
            "parameters": {"trainable": 1000, "total": 135000}, "questions": br.questions(20, 8),
            "train_s_per_question": train_s, "val_s_per_question": 0.05 if train_s else None, "fit_seconds": 2.0,
            "answer_s_per_question": 0.2, "grounding_s_per_question": 0.3, "rest_seconds": 10.0, **extra}


def test_a_probe_projects_a_grid_cell_from_its_seconds_per_question():
    assert br.questions(20, 8) == {"train": 72, "val": 8, "test": 32, "heldout": 32}
    assert br.GRID_QUESTIONS == {"train": 7560, "val": 840, "test": 1400, "heldout": 1400}
    answers = 2800 * 0.2 + 1400 * 0.3 + 10.0
    # the TSLM answers the first 150 series of each split, four questions each
    assert br.row_questions(br.EXPLAINER) == {"train": 7560, "val": 840, "test": 600, "heldout": 600}
    assert br.projected_seconds(probe(br.EXPLAINER, 0.1)) == pytest.approx(
        br.DEFAULT_EPOCHS * (756 + 42) + 1200 * 0.2 + 600 * 0.3 + 10.0)
    # a row with its own epochs
    head = "encoder + linear head (no LLM)"
    assert br.projected_seconds(probe(head, 0.1)) == pytest.approx(20 * (756 + 42) + answers)
    # a row that fits at once: its fit in proportion to the training questions
    assert br.projected_seconds(probe("majority", None)) == pytest.approx(2.0 * 7560 / 72 + answers)


def test_the_cost_tables_project_the_grid_and_set_the_default_beside_the_full_size(tmp_path):
    full = next(iter(br.FULL_SIZE))
    text = report_of(tmp_path, {"probe__a.json": probe(br.EXPLAINER, 0.1), "probe__b.json": probe(full, 2.0)})
    assert f"| {full} | 1,000 / 135,000 | 2.00 | {(7560 * 2.0 + 840 * 0.05) / 3600:.2f} | 0.20 | 3.25 |" in text
    assert f"| {br.EXPLAINER} | 60 | 3 | {br.projected_seconds(probe(br.EXPLAINER, 0.1)) / 3600:.2f} |" in text
    assert "(2 probes, code at 1234567; timed on" in text and "cells, code at -; timed on -)" in text   # probes stay out of the grid
    assert f"| all (1 of {len(br.ROWS)} rows probed) | | {len(br.cells(None, None))} |" in text


def test_probes_from_a_machine_that_emulates_bf16_get_their_own_table_and_stay_out_of_the_estimate(tmp_path):
    f32 = "TSLM, LLM in float32"
    avx2 = dict(native_bf16=False, machine="AMD EPYC, 2 cores, avx2")
    text = report_of(tmp_path, {"probe__a.json": probe(f32, 0.1), "probe__b.json": probe(f32, 0.5, **avx2)})
    native, emulated = text.split("### On a CPU without native bfloat16")
    assert f"| {f32} | 60 | 1 | {br.projected_seconds(probe(f32, 0.1)) / 3600:.2f} |" in native   # one seed
    assert "| all (1 of" in native and "| 0.50 |" not in native
    assert "Timed on AMD EPYC, 2 cores, avx2 (1 cell)" in emulated and f"| {f32} | 1,000 / 135,000 | 0.50 |" in emulated
    assert f"| {f32} | 60 | 1 | {br.projected_seconds(probe(f32, 0.5)) / 3600:.2f} |" in emulated
    (tmp_path / "b").mkdir()
    assert "### On a CPU without" not in report_of(tmp_path / "b", {"probe__a.json": probe(f32, 0.1)})


def test_a_probe_is_recorded_apart_where_the_machine_emulates_bf16(monkeypatch):
    for native, name in ((True, "probe__majority.json"), (False, "probe__majority__emulated_bf16.json")):
        monkeypatch.setattr(br, "native_bf16", lambda: native)
        assert br.probe_path(Path("out"), "majority") == Path("out") / name


def fake_reason_py(tmp_path: Path, monkeypatch, resumed_after_epoch: int = 0) -> list[list[str]]:
    """Stand in for `reason.py` runs: write the result JSON a run would write (and the task files
    for make-data), under tmp_path as the repository root; the commands it was given."""
    calls: list[list[str]] = []

    def run(cmd, log):
        calls.append(cmd)
        arg = lambda name: cmd[cmd.index(name) + 1]
        if cmd[2] == "make-data":
            for split, n in (("train", 20), ("test", 8), ("heldout", 8)):
                (tmp_path / arg("--rs_data")).mkdir(parents=True, exist_ok=True)
                (tmp_path / arg("--rs_data") / f"{split}.jsonl").write_text("{}\n" * n)
            return 1.0, 0.1
        scores = {"test": {**split_scores(0.5), "seconds": 6.4, "grounding_seconds": 3.2},
                  "heldout": {**split_scores(0.4), "seconds": 6.4}}
        result = {"git_commit": "abc1234", "scores": scores, "training": {
            "history": [{"seconds": 7.2, "val_seconds": 0.8}], "fit_seconds": 9.0,
            "resumed_after_epoch": resumed_after_epoch, "parameters": {"trainable": 5, "total": 9}}}
        folder = tmp_path / arg("--expe_dir") / "results" / "reasoning"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "r.json").write_text(json.dumps(result))
        return 30.0, 1.5

    monkeypatch.setattr(br, "ROOT", tmp_path)
    monkeypatch.setattr(br, "measured", run)
    return calls


def test_a_grid_cell_and_a_probe_read_what_reason_py_writes(tmp_path, monkeypatch):
    calls = fake_reason_py(tmp_path, monkeypatch)
    cell = br.run_cell("majority", 2, Path("data"), Path("expe"), tmp_path / "out")
    assert cell["scores"]["test"]["kind_choice"]["accuracy"] == 0.5 and cell["machine"]
    rec = br.probe_cell(br.EXPLAINER, "root", Path("expe"), tmp_path / "out")
    assert calls[1][2] == "make-data" and "--rs_n_train" in calls[1] and calls[2][-4:-2] == ["--epochs", "1"]
    assert rec["train_s_per_question"] == pytest.approx(7.2 / 72) and rec["val_s_per_question"] == pytest.approx(0.1)
    assert rec["answer_s_per_question"] == pytest.approx(0.2) and rec["grounding_s_per_question"] == pytest.approx(0.1)
    assert rec["rest_seconds"] == pytest.approx(30.0 - 9.0 - 6.4 - 6.4 - 3.2)
    assert json.loads(br.probe_path(tmp_path / "out", br.EXPLAINER).read_text()) == rec


def test_a_grid_cell_resumes_its_run_and_counts_the_epochs_of_the_process_before(tmp_path, monkeypatch):
    calls = fake_reason_py(tmp_path, monkeypatch, resumed_after_epoch=1)
    cell = br.run_cell(br.EXPLAINER, 1, Path("data"), Path("expe"), tmp_path / "out")
    assert calls[0][-2:] == ["--resume", "True"] and "--resume" not in cell["flags"]   # the flags stay the cell's
    assert cell["wall_seconds"] == pytest.approx(30.0 + 7.2 + 0.8)   # this process, and epoch 1 before it


def test_probes_skip_bf16_settings_where_the_machine_emulates_it(tmp_path, monkeypatch, capsys):
    calls = fake_reason_py(tmp_path, monkeypatch)
    monkeypatch.setattr(benchmark, "native_bf16", lambda: False)
    br.probe_all("root", Path("expe"), tmp_path / "out")
    probed = {json.loads(p.read_text())["row"] for p in (tmp_path / "out").glob("probe__*.json")}
    assert probed == {"TSLM, LLM in float32", "TSLM, first 6 LLM layers", "encoder + linear head (no LLM)",
                      "encoder + linear head, no dropout", "encoder + linear head, pre-LN encoder",
                      "random forest on window statistics", "majority", *br.FLOAT32_TWINS, *br.FULL_SIZE}
    assert not any(benchmark.emulates_bf16(c) for c in calls) and "skipped" in capsys.readouterr().out


def test_the_grid_resumes_and_skips_bf16_cells_where_the_machine_emulates_bf16(tmp_path, monkeypatch, capsys):
    calls = fake_reason_py(tmp_path, monkeypatch)
    todo = [("majority", 1), (br.EXPLAINER, 1)]   # the TSLM runs in bfloat16 by default
    dtypes = lambda: [[a for f, a in zip(c, c[1:]) if f == "--llm_dtype"][-1:] or ["float32"] for c in calls]
    assert "--llm_dtype" not in br.flags("majority", 1, Path("d"), Path("e"))
    for native, ran in ((False, [["float32"]]), (True, [["float32"], ["bfloat16"]])):   # the second pass resumes
        monkeypatch.setattr(benchmark, "native_bf16", lambda: native)
        br.run_grid(todo, Path("data"), Path("expe"), tmp_path / "out")
        assert ("skipped: 1 cells with the LLM in bfloat16" in capsys.readouterr().out) != native
        assert dtypes() == ran


def test_max_hours_is_counted_from_the_start_and_zero_means_no_limit(capsys):
    now = time.time()
    assert not benchmark.out_of_hours(now, 0, 3) and not benchmark.out_of_hours(now - 7200, 0, 3)
    assert not benchmark.out_of_hours(now, 1, 3)
    assert benchmark.out_of_hours(now - 7200, 1, 2)
    assert capsys.readouterr().out == "--max_hours 1 reached; 2 cells left\n"


def test_the_grid_starts_no_cell_once_max_hours_have_passed(tmp_path, monkeypatch, capsys):
    calls = fake_reason_py(tmp_path, monkeypatch)
    asked: list[tuple[float, int]] = []
    monkeypatch.setattr(br, "out_of_hours", lambda t0, hours, left: asked.append((hours, left)) or len(asked) > 1)
    todo = [("majority", 1), ("majority", 2), ("majority", 3)]
    br.run_grid(todo, Path("data"), Path("expe"), tmp_path / "out", max_hours=0.5)
    assert len(calls) == 1 and asked == [(0.5, 3), (0.5, 2)]
    asked.clear()
    br.run_grid(todo, Path("data"), Path("expe"), tmp_path / "out", max_hours=0.5)   # resumes at the second cell
    assert len(calls) == 2 and asked == [(0.5, 2), (0.5, 1)]
    assert "[2/3] majority, seed 2" in capsys.readouterr().out


def test_the_report_sets_the_tslm_against_every_row_beside_seed_noise(tmp_path):
    def rec(row, seed, acc, machine="Xeon"):
        return {"row": row, "seed": seed, "flags": [], "wall_seconds": 100.0 * seed, "peak_gb": 0.5,
                "git_commit": "abc1234def", "training": {"parameters": {"trainable": 0}}, "machine": machine,
                "scores": {"test": split_scores(acc), "heldout": split_scores(acc / 2)}}

    assert br.comparisons([rec("majority", 1, 0.2)]) == []   # no TSLM cell: nothing to compare
    cells = {f"{br.stem(row, s)}.json": rec(row, s, acc)
             for row, s, acc in ((br.EXPLAINER, 1, 0.50), (br.EXPLAINER, 2, 0.54), ("majority", 1, 0.14),
                                 ("encoder + linear head (no LLM)", 1, 0.53))}
    text = report_of(tmp_path, cells)
    assert ("- In distribution, kind accuracy (free text) of the TSLM against majority: 0.520 (2 seeds) against "
            "0.140 (1 seed): -0.380, beyond seed noise (0.028; the other row has 1 seed); wall 150 s against 100 s") in text
    assert ("- Held out, kind accuracy (free text) of the TSLM against encoder + linear head (no LLM): 0.260 (2 seeds) "
            "against 0.265 (1 seed): +0.005, within seed noise (0.014; the other row has 1 seed)") in text
    twin = next(iter(br.FLOAT32_TWINS))
    cells.update({f"{br.stem(row, 1)}.json": rec(row, 1, acc, "EPYC") for row, acc in ((br.FLOAT32_TSLM, 0.3),
                                                                                        (twin, 0.1))})
    text = report_of(tmp_path / "with float32", cells)
    assert (f"- In distribution, kind accuracy (free text) of the TSLM against {br.FLOAT32_TSLM}: 0.520 (2 seeds) "
            "against 0.300 (1 seed): -0.220, beyond seed noise (0.028; the other row has 1 seed); "
            "wall 150 s (Xeon) against 100 s (EPYC)") in text   # the machines named where they differ
    assert (f"- In distribution, kind accuracy (free text) of {br.FLOAT32_TSLM} against {twin}: 0.300 (1 seed) "
            "against 0.100 (1 seed): -0.200, seed noise not measured; wall 100 s against 100 s") in text
    assert f"of the TSLM against {twin}" not in text   # a float32 twin is read against the float32 TSLM only
    cells[f"{br.stem(br.EXPLAINER, 3)}.json"] = rec(br.EXPLAINER, 3, 0.52, "EPYC")
    text = report_of(tmp_path / "on two machines", cells)
    assert "wall 200 s (EPYC; Xeon) against 100 s (EPYC)" in text   # a row's machines, one apart from the next


def test_the_easy_task_runs_its_own_cells_in_float32_and_reports_them_apart_from_the_grid(tmp_path, monkeypatch):
    calls = fake_reason_py(tmp_path, monkeypatch)
    monkeypatch.setattr(benchmark, "native_bf16", lambda: False)
    todo = br.cells(None, None, br.EASY)
    tslm = list(br.EASY.one_seed)
    assert tslm and [r for r, _ in todo[-len(tslm):]] == tslm and {s for r, s in todo if r in tslm} == {1}
    assert len(todo) == len(tslm) + 3 * (len(br.EASY_ROWS) - len(tslm))
    br.run_grid(todo[-len(tslm):], br.EASY.data(Path("expe")), Path("expe"), tmp_path / "out", grid=br.EASY)
    assert len(calls) == len(tslm)   # float32: none is skipped where bfloat16 is emulated
    assert all([a for f, a in zip(c, c[1:]) if f == "--llm_dtype"][-1] == "float32" for c in calls)
    assert all(c[c.index("--rs_data") + 1] == str(Path("expe") / "easy__data") for c in calls)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.json")) == sorted(
        f"{br.EASY.stem(r, 1)}.json" for r in tslm)
    doc = tmp_path / "R.md"
    doc.write_text("".join(f"<!-- reasoning-{b}:start -->\n<!-- reasoning-{b}:end -->\n"
                           for b in ("grid", "explain", "cost", "easy", "labels")))
    br.write_report(tmp_path / "out", doc)
    grid, easy = doc.read_text().split("<!-- reasoning-easy:start -->")
    assert "(0 of the grid's" in grid and f"| {tslm[0]} | 1 | 7 | 0.500" in easy


def test_flags_that_do_not_go_with_the_chosen_grid_are_refused_in_one_line():
    import argparse
    ask = lambda **k: argparse.Namespace(**{"grid": "main", "explain": False, "estimate": False, "rows": None, **k})
    assert br.grid_of(ask()) is br.MAIN and br.grid_of(ask(grid="easy", rows=["majority"])) is br.EASY
    for bad, match in ((ask(grid="easy", explain=True), "--grid easy runs the easy task only"),
                       (ask(grid="labels", estimate=True), "--grid labels runs the easy task, labels alone only"),
                       (ask(grid="easy", rows=["TSLM, LoRA r=8"]), "not rows of the easy task: TSLM, LoRA r=8"),
                       (ask(rows=[next(iter(br.EASY.one_seed))]), "not rows of the grid")):
        with pytest.raises(UserError, match=match):
            br.grid_of(bad)


def test_the_labels_task_starts_each_seed_s_tslm_from_that_seed_s_encoder_head_after_it(tmp_path, monkeypatch):
    calls = fake_reason_py(tmp_path, monkeypatch)
    todo = br.cells(None, [1, 2], br.LABELS)
    assert todo[-3:] == [(br.STARTED_TSLM, 1), (br.STARTED_TSLM, 2), (br.STARTED_RANDOM, 1)]
    assert (br.HEAD_PRE_LN, 2) in todo[:-3] and br.cells(None, [2], br.LABELS)[-1] == (br.STARTED_TSLM, 2)
    expe = Path("expe")
    random_init = br.flags(br.STARTED_RANDOM, 1, br.LABELS.data(expe), expe, br.LABELS)
    assert "--rs_encoder_from" in random_init and random_init[random_init.index("--llm_pretrained") + 1] == "False"
    flags = br.flags(br.STARTED_TSLM, 2, br.LABELS.data(expe), expe, br.LABELS)
    head_folder = expe / br.LABELS.stem(br.HEAD_PRE_LN, 2)
    assert flags[flags.index("--rs_encoder_from") + 1] == str(head_folder / "pth" / "reason_encoder_head_seed2.pth")
    assert "--rs_encoder_from" not in br.flags(br.HEAD_PRE_LN, 2, br.LABELS.data(expe), expe, br.LABELS)
    assert flags[flags.index("--rs_data") + 1] == str(expe / "labels__data")
    assert ("--rs_rationale", "False") in zip(br.LABELS.tasks, br.LABELS.tasks[1:])
    br.run_grid(todo[-3:-2], br.LABELS.data(expe), expe, tmp_path / "out", grid=br.LABELS)
    assert len(calls) == 1 and [a for f, a in zip(calls[0], calls[0][1:]) if f == "--llm_dtype"][-1] == "float32"
    assert [p.name for p in (tmp_path / "out").glob("*.json")] == [f"{br.LABELS.stem(br.STARTED_TSLM, 1)}.json"]
    assert br.load(tmp_path / "out") == []   # not a cell of the grid


def test_a_started_cell_retrains_its_recorded_encoder_head_where_the_checkpoint_is_not_on_the_machine(
        tmp_path, monkeypatch, capsys):
    calls = fake_reason_py(tmp_path, monkeypatch)
    expe, out, data = Path("expe"), tmp_path / "out", br.LABELS.data(Path("expe"))
    head = out / f"{br.LABELS.stem(br.HEAD_PRE_LN, 1)}.json"
    out.mkdir()
    expe_dir = lambda c: c[c.index("--expe_dir") + 1]

    def record_head(acc: float) -> str:
        scores = {"test": {**split_scores(acc), "seconds": 99.0, "grounding_seconds": 9.0},
                  "heldout": {**split_scores(0.4), "seconds": 99.0}}
        head.write_text(json.dumps({"flags": br.flags(br.HEAD_PRE_LN, 1, data, expe, br.LABELS), "scores": scores}))
        return head.read_text()

    record_head(0.3)   # the retrained head scores 0.5: another encoder
    with pytest.raises(UserError, match="its scores differ from its record"):
        br.run_grid([(br.STARTED_TSLM, 1)], data, expe, out, grid=br.LABELS)
    assert [expe_dir(c) for c in calls] == [str(expe / br.LABELS.stem(br.HEAD_PRE_LN, 1))]
    recorded = record_head(0.5)   # the same scores, other seconds: the TSLM starts from it, and the record stays
    br.run_grid([(br.STARTED_TSLM, 1)], data, expe, out, grid=br.LABELS)
    assert [expe_dir(c) for c in calls[1:]] == [str(expe / br.LABELS.stem(h, 1)) for h in (br.HEAD_PRE_LN, br.STARTED_TSLM)]
    assert head.read_text() == recorded and "its scores equal its record's" in capsys.readouterr().out
    checkpoint = tmp_path / br.LABELS.start_path(br.STARTED_TSLM, 2, expe)
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"")
    br.run_grid([(br.STARTED_TSLM, 2)], data, expe, out, grid=br.LABELS)   # on the machine: nothing retrained
    assert [expe_dir(c) for c in calls[3:]] == [str(expe / br.LABELS.stem(br.STARTED_TSLM, 2))]
