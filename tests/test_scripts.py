"""The data-processing scripts on tiny iTrust-like and telemanom-like fixtures."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from lib.config import Config
from lib.errors import UserError
from lib.data import load_raw
from tests.conftest import REPO
from tests.lib.data.test_readers import write_telemanom
from tests.test_cli import cli


def test_process_swat(tmp_path):
    normal = pd.DataFrame({" Timestamp": ["t"] * 12, "FIT101": np.arange(12.0), "LIT101": 1.0, "Normal/Attack": "Normal"})
    attack = pd.DataFrame({" Timestamp": ["t"] * 8, "FIT101": np.arange(8.0), "LIT101": 2.0,
                           "Normal/Attack": ["Normal", "Attack", "A ttack", "Normal"] * 2})
    normal.to_csv(tmp_path / "n.csv", index=False)
    attack.to_csv(tmp_path / "a.csv", index=False)
    out = cli("scripts/process_swat.py", "--normal", str(tmp_path / "n.csv"), "--attack", str(tmp_path / "a.csv"),
              "--out", str(tmp_path / "SWaT"))
    assert out.returncode == 0, out.stderr
    raw = load_raw(Config(data="SWaT", data_root=str(tmp_path)))
    assert raw.names == ["FIT101", "LIT101"] and raw.labels.tolist() == [0, 1, 1, 0] * 2


def test_process_wadi(tmp_path):
    cols = "Row,Date,Time,S1,S2,EMPTY"
    normal = "\n".join([cols] + [f"{i},d,t,{i},{2 * i}," for i in range(10)])
    attack = "\n".join(["meta line", cols + ",Attack LABLE (1:No Attack, -1:Attack)"] +
                       [f"{i},d,t,{i},{i},,{-1 if i in (2, 3) else 1}" for i in range(6)])
    (tmp_path / "n.csv").write_text(normal)
    (tmp_path / "a.csv").write_text(attack)
    out = cli("scripts/process_wadi.py", "--normal", str(tmp_path / "n.csv"), "--attack", str(tmp_path / "a.csv"),
              "--out", str(tmp_path / "WADI"))
    assert out.returncode == 0, out.stderr
    raw = load_raw(Config(data="WADI", data_root=str(tmp_path)))
    assert raw.names == ["S1", "S2"] and raw.labels.tolist() == [0, 0, 1, 1, 0, 0]


def test_process_msl_smap(tmp_path):
    write_telemanom(tmp_path)
    out = cli("scripts/process_msl_smap.py", "--data_root", str(tmp_path), "--spacecraft", "MSL", "--out", str(tmp_path / "flat"))
    assert out.returncode == 0, out.stderr
    flat = load_raw(Config(data="generic", data_root=str(tmp_path / "flat")))
    direct = load_raw(Config(data="MSL", data_root=str(tmp_path)))
    np.testing.assert_array_equal(flat.test, direct.test)
    np.testing.assert_array_equal(flat.labels, direct.labels)


def bench(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return cli("scripts/benchmark.py", "--quick", "--out", str(tmp_path / "out"), "--expe_dir", str(tmp_path / "expe"),
               *args)


def test_benchmark_quick_runs_every_detector_and_resumes(tmp_path):
    from scripts.benchmark import DETECTORS

    done = bench(tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    report = (tmp_path / "out" / "RESULTS.md").read_text()
    rows = [line.split(" | ")[1] for line in report.splitlines() if line.startswith("| synthetic |")]
    assert rows[1:] == [*DETECTORS, "baseline random", "baseline pca", "baseline iforest"]   # after the headline
    cells = sorted((tmp_path / "out" / "main").glob("*.json"))
    assert len(cells) == len(DETECTORS)
    record = json.loads(cells[0].read_text())
    assert 0 <= record["metrics"]["vus_pr"] <= 1 and record["metrics"]["peak_gb"] > 0.1
    assert record["metrics"]["peak_gb"] == max(record["memory_gb"].values())   # train's and test's peaks, both kept
    # which epoch the cell kept (epoch 1 has no adversarial term), and a POT column that is POT
    assert record["trained_epoch"] == 1 and record["metrics"]["epoch1"] == 1.0
    assert record["metrics"]["pot_fit"] in (0.0, 1.0) and "| POT F1 | POT fitted | epoch 1 kept |" in report
    if record["metrics"]["pot_fit"] == 0.0:
        assert record["metrics"]["pot_f1"] != record["metrics"]["pot_f1"]   # NaN: a quantile is not POT
    stamp = {p: p.stat().st_mtime for p in cells}
    again = bench(tmp_path)                                                   # nothing left to run
    assert again.returncode == 0 and "[1/" not in again.stderr
    assert {p: p.stat().st_mtime for p in cells} == stamp


@pytest.mark.parametrize("script, row, run_dir, cell", [
    ("benchmark.py", "gat+ae", "main/synthetic__gat-ae__seed1/results", "main/synthetic__gat-ae__seed1.json"),
    ("bench_imputation.py", "mean", "synthetic__mean__seed1/results/imputation", "synthetic__mean__seed1.json")])
def test_a_relative_expe_dir_is_under_the_repo_from_any_cwd_and_no_cell_names_a_machine_folder(
        tmp_path, script, row, run_dir, cell):
    """The cells are committed, so they must name no folder of the machine that ran them."""
    import shutil

    expe = f"expe/bench_test_{tmp_path.name}"   # relative: under the repo, as the default is
    try:
        done = subprocess.run([sys.executable, str(REPO / "scripts" / script), "--quick", "--rows", row,
                               "--out", str(tmp_path / "out"), "--expe_dir", expe],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert (REPO / expe / run_dir).is_dir()
        text = (tmp_path / "out" / cell).read_text()
        assert str(REPO) not in text and str(tmp_path) not in text and expe in text
    finally:
        shutil.rmtree(REPO / expe, ignore_errors=True)


def test_ablations_script_quick(tmp_path):
    """The script end to end on two rows (the base and the one with the most flags); every row's
    flags are checked without running it below."""
    rows_run = ["prompt dataset (base)", "MAS input"]
    done = subprocess.run(["bash", "scripts/ablations.sh", "--quick", "--out", str(tmp_path / "out"), "--expe_dir",
                           str(tmp_path / "expe"), "--doc", str(tmp_path / "ABLATIONS.md"), "--rows", *rows_run],
                          cwd=REPO, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr[-2000:]
    all_rows, against = (tmp_path / "ABLATIONS.md").read_text().split("## Each row against the base")
    rows = [line.split(" | ")[1] for line in all_rows.splitlines() if line.startswith("| synthetic |")]
    assert rows == rows_run
    assert [line.split(" | ")[1] for line in against.splitlines() if line.startswith("| synthetic |")] == rows_run[1:]


@pytest.mark.parametrize("grid", ["main", "ablations"])
def test_every_row_runs_with_its_own_flags(grid):
    """A row's flags reach run.py's config, even where the protocol sets the same flag."""
    from run import parse_config
    from scripts.benchmark import ABLATIONS, DETECTORS, FULL, Cell, cell_flags

    rows = DETECTORS if grid == "main" else ABLATIONS
    for row, own in rows.items():
        train, test = cell_flags(Cell(grid, "SMD", "machine-1-2", row, 1), FULL, "", REPO / "expe")
        for flags in (train, [f for f in test if f != "--baselines"]):   # --baselines is test.py's own
            cfg, _ = parse_config("", flags)
            for flag, value in zip(own[::2], own[1::2]):
                assert str(getattr(cfg, flag[2:])) == value, (row, flag)
    # the main grid scores its LLM rows in bfloat16; the ablations score theirs in float32
    dtypes = {parse_config("", [f for f in cell_flags(Cell(grid, "SMD", "machine-1-2", row, 1), FULL, "", REPO)[1]
                                if f != "--baselines"])[0].llm_dtype for row in rows if "llm" in row or grid != "main"}
    assert dtypes == {"bfloat16" if grid == "main" else "float32"}
    if grid == "ablations":   # each row differs from the base in its own flags alone, and in at least one
        def parsed(row):
            return parse_config("", cell_flags(Cell(grid, "SMD", "machine-1-2", row, 1), FULL, "", REPO)[0])[0].to_dict()
        base = parsed("prompt dataset (base)")
        for row, own in ABLATIONS.items():
            changed = {k for k, v in parsed(row).items() if base[k] != v}
            assert changed <= {f[2:] for f in own[::2]} and (changed or not own), (row, changed)


def test_plan_keeps_only_the_seeds_asked_for():
    from scripts.benchmark import FULL, plan

    every = plan("main", FULL, "", ["synthetic"])
    two = plan("main", FULL, "", ["synthetic"], [2, 3])
    assert {c.seed for c in every} == set(FULL.seeds) and {c.seed for c in two} == {2, 3}
    assert len(two) == len(every) // len(FULL.seeds) * 2
    with pytest.raises(UserError, match="--seeds 4: the grid's seeds are 1 2 3"):
        plan("main", FULL, "", ["synthetic"], [1, 4])


def test_plan_keeps_only_the_rows_and_datasets_asked_for(monkeypatch):
    import scripts.benchmark as benchmark
    from scripts.benchmark import ABLATIONS, BASE_ROW as BASE, EVERY_SEED_FIRST, FULL, plan

    monkeypatch.setattr(benchmark, "present", lambda dataset, data_root: True)   # the real data need not be here
    cells = plan("ablations", FULL, "", None, [1], ["MAS input", "prompt none"])
    assert [c.detector for c in cells if c.dataset == "SMD"] == ["prompt none", "MAS input"]   # the grid's order
    assert {c.dataset for c in cells} == set(FULL.ablation_datasets)
    with pytest.raises(UserError, match=r"--rows gat\+ae: the grid's rows are 'prompt dataset \(base\)' 'prompt none'"):
        plan("ablations", FULL, "", None, None, ["gat+ae"])
    with pytest.raises(UserError, match="--datasets SMDX: the grid's datasets are SMD MSL"):
        plan("ablations", FULL, "", ["SMDX"])
    assert len(ABLATIONS) == len(plan("ablations", FULL, "", ["SMD"], [1]))
    order = [(c.detector, c.seed, c.dataset) for c in plan("ablations", FULL, "", None)]
    assert order[:4] == [(BASE, 1, "SMD"), (BASE, 1, "MSL"), (BASE, 2, "SMD"), (BASE, 2, "MSL")]
    assert set(EVERY_SEED_FIRST) < set(ABLATIONS)
    rows = list(ABLATIONS)
    first_pass = [(d, s) for d, s, _ in order[:len(order) - 2 * 2 * (len(rows) - len(EVERY_SEED_FIRST))]]
    assert {s for d, s in first_pass if d not in EVERY_SEED_FIRST} == {1}   # the other rows once, then
    assert [d for d, _ in first_pass] == sorted((d for d, _ in first_pass), key=rows.index)   # row by row
    assert {d for d, _ in first_pass} == set(rows) and {s for _, s in first_pass} == {1, 2, 3}
    assert [(d, s) for d, s, _ in order[-4:]] == [("MAS input", 2)] * 2 + [("MAS input", 3)] * 2  # costliest last
    assert "first every row at seed 1" in benchmark.ablation_order(FULL.seeds)
    main = [(c.seed, c.dataset) for c in plan("main", FULL, "", ["synthetic"])]
    assert main == sorted(main, key=lambda sd: sd[0])                        # main: seed by seed


def test_summary_averages_entities_then_seeds():
    from scripts.benchmark import summarise

    def rec(entity, seed, f1):
        return {"cell": {"dataset": "SMD", "entity": entity, "detector": "gat+ae", "seed": seed},
                "metrics": {"f1": f1, "train_s": 10.0, "peak_gb": f1}, "baselines": {}}

    records = [rec("a", 1, 0.2), rec("b", 1, 0.4), rec("a", 2, 0.6), rec("b", 2, 0.8), rec("a", 3, 1.0)]
    s = summarise(records, {"SMD": ["a", "b"]})[("SMD", "gat+ae")]
    assert s["f1"][0] == pytest.approx(0.5) and s["f1"][2] == 2              # seed 3 lacks entity b: left out
    assert s["f1"][1] == pytest.approx(np.std([0.3, 0.7], ddof=1))
    assert s["train_s"][0] == 20.0 and s["peak_gb"][0] == pytest.approx(0.6)  # summed, maxed over entities


def test_code_commits_say_what_dirty_means_only_when_a_cell_has_it():
    from scripts.benchmark import code_commits

    clean = [{"git_commit": "b"}, {"git_commit": "a"}, {"git_commit": "b"}]
    assert code_commits(clean) == "a, b"
    said = code_commits(clean + [{"git_commit": "a+dirty"}])
    assert said.startswith("a, a+dirty, b (+dirty: ") and said.count("+dirty") == 2
    assert code_commits([]) == "-"


def test_machines_line_counts_cells_per_machine_in_words():
    from scripts.benchmark import machines_line

    records = [{"machine": "m2"}, {"machine": "m1"}, {"machine": "m2"}, {}]
    assert machines_line(records) == "a machine not recorded (1 cell); m1 (1 cell); m2 (2 cells)"
    assert machines_line([]) == "-"
    timed = [{"machine": "m1", "wall_seconds": 1800.0}, {"machine": "m1", "wall_seconds": 5400.0}]
    assert machines_line(timed, hours=True) == "m1 (2 cells, 2.0 h)"


def test_short_commits_name_the_code_of_every_process_a_resumed_cell_ran_in():
    from scripts.benchmark import short_commits

    resumed = {"git_commit": "bbbbbbb222", "training": {"history": [{"git_commit": "aaaaaaa111"}, {}]}}
    assert short_commits([resumed, {"git_commit": "bbbbbbb333"}]) == ["aaaaaaa", "bbbbbbb"]
    # an epoch begun by one process and finished by another names the earlier one's commit too
    resumed["training"]["history"][1] = {"git_commit": "bbbbbbb222", "before_resume": {"git_commits": ["ccccccc444"]}}
    assert short_commits([resumed]) == ["aaaaaaa", "bbbbbbb", "ccccccc"]


def test_compare_names_the_quality_metrics_that_differ_and_ignores_timing(tmp_path):
    from scripts.benchmark import compare_runs

    def write(folder, stem, vus, train_s, iforest=0.5, commit="abc123456789"):
        folder.mkdir(exist_ok=True)
        (folder / f"{stem}.json").write_text(json.dumps(
            {"git_commit": commit, "metrics": {"vus_pr": vus, "f1": float("nan"), "train_s": train_s, "peak_gb": 1.0},
             "baselines": {"iforest": {"vus_pr": iforest}}}))

    before, after = tmp_path / "before", tmp_path / "after"
    write(before, "a", 0.25, 800.0, commit="abc123456789+dirty"), write(after, "a", 0.25, 200.0)   # timing alone
    write(before, "b", 0.25, 10.0), write(after, "b", 0.26, 10.0, iforest=0.4)
    write(before, "c", 0.25, 10.0)                                                                   # not rerun
    lines, all_same = compare_runs(before, after)
    assert not all_same and lines == [
        "a: same (code abc12345+dirty -> abc12345)",
        "b: DIFFERS iforest vus_pr 0.5 -> 0.4; vus_pr 0.25 -> 0.26 (code abc12345 -> abc12345)",
        f"c: not run under {after}",
        "1 of 3 cells the same in every quality metric (timing and memory not compared)"]
    (before / "b.json").unlink(), (before / "c.json").unlink()
    assert compare_runs(before, after)[1]


def test_compare_cli_exits_1_on_a_difference_and_fails_in_one_line_on_an_empty_folder(tmp_path):
    out = tmp_path / "out" / "main"
    out.mkdir(parents=True)
    (tmp_path / "before").mkdir()
    empty = cli("scripts/benchmark.py", "--out", str(tmp_path / "out"), "--compare", str(tmp_path / "before"))
    assert empty.returncode == 2 and empty.stderr.count("\n") == 1 and "no cell JSONs" in empty.stderr, empty.stderr
    for folder, vus in ((tmp_path / "before", 0.1), (out, 0.2)):
        (folder / "x.json").write_text(json.dumps({"git_commit": "c", "metrics": {"vus_pr": vus}}))
    differs = cli("scripts/benchmark.py", "--out", str(tmp_path / "out"), "--compare", str(tmp_path / "before"))
    assert differs.returncode == 1 and "x: DIFFERS vus_pr 0.1 -> 0.2" in differs.stdout, differs.stderr


def test_a_written_table_reads_back_and_compares_with_the_cells_run_since():
    from scripts.benchmark import compare_tables, markdown_table, parse_table

    then = {("SMD", "base"): {"f1": (0.668, 0.014, 3), "vus_pr": (0.249, 0.002, 3), "train_s": (159.0, 9.0, 3)},
            ("MSL", "base"): {"f1": (0.566, float("nan"), 1), "vus_pr": (0.184, float("nan"), 1)}}
    text = "# Title\n\n| data | STAMP gat+ae PA-F1 |\n|---|---|\n| SMD | 0.5 |\n\n" + \
        markdown_table(then, ["base"], ["SMD", "MSL"]) + "\n\nprose | with a bar\n"
    read = parse_table(text)
    assert read.keys() == then.keys() and read[("SMD", "base")] == then[("SMD", "base")]
    assert read[("MSL", "base")]["f1"][0] == 0.566 and np.isnan(read[("MSL", "base")]["f1"][1])
    now = {("SMD", "base"): {"f1": (0.676, 0.001, 2), "vus_pr": (0.252, 0.003, 2), "train_s": (174.9, 3.0, 2)},
           ("SMD", "new row"): {"f1": (0.1, 0.0, 2)}}
    lines = compare_tables(read, now)
    assert lines[0] == "SMD base: PA-F1 0.676 (2) / 0.668 ± 0.014 (3); VUS-PR 0.252 (2) / 0.249 ± 0.002 (3); " \
                       "train s 175 (2) / 159 ± 9 (3)"
    assert lines[1:] == ["1 rows in both; now against then:", "  PA-F1: largest |now - then| 0.008 (SMD base)",
                         "  VUS-PR: largest |now - then| 0.003 (SMD base)",
                         "  train s: now/then from 1.10 (SMD base) to 1.10 (SMD base)"]
    with pytest.raises(UserError, match="no row of the table"):
        compare_tables(read, {("SKAB", "base"): now[("SMD", "base")]})


@pytest.mark.parametrize("script, doc, title", [("benchmark", "RESULTS.md", "# Results"),
                                                ("bench_imputation", "IMPUTATION.md", "# Imputation"),
                                                ("bench_forecast", "FORECASTING.md", "# Forecasting"),
                                                ("bench_reasoning", "REASONING.md", "# Reasoning")])
def test_a_side_run_into_another_out_leaves_docs_and_readme_alone(tmp_path, script, doc, title):
    kept = {path: path.read_text() for path in (REPO / "README.md", *(REPO / "docs").glob("*.md"))}
    done = cli(f"scripts/{script}.py", "--report_only", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / doc).read_text().startswith(title)
    assert {path: path.read_text() for path in kept} == kept


def test_stamp_differences_quick_scores_one_checkpoint_under_each_variant(tmp_path):
    from scripts.stamp_differences import VARIANTS

    rows = ["per-step labels for the STAMP columns", "POT on 200 validation windows"]
    done = cli("scripts/stamp_differences.py", "--quick", "--out", str(tmp_path / "out"), "--rows", *rows)
    assert done.returncode == 0, done.stderr[-2000:]
    doc = (tmp_path / "out" / "SCORING.md").read_text()
    assert all(f"| {name} |" in doc for name in ["STAMP (defaults)", *rows]) and set(rows) < set(VARIANTS)
    records = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("*.json")]
    assert len(records) == 3 and len({r["trained_epoch"] for r in records}) == 1   # one checkpoint
    labels = {r["variant"]: r["stamp_labels"] for r in records}
    assert labels["STAMP (defaults)"] == "window" and labels["per-step labels for the STAMP columns"] == "step"


def test_bench_imputation_quick(tmp_path):
    done = cli("scripts/bench_imputation.py", "--quick", "--out", str(tmp_path / "out"), "--expe_dir",
               str(tmp_path / "expe"), "--rows", "mean", "linear", "LLM4IMP", "LLM4IMP, no LLM layers")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {line.split(" | ")[1]: line.split(" | ") for line in (tmp_path / "out" / "IMPUTATION.md").read_text()
            .splitlines() if line.startswith("| synthetic |")}
    assert list(rows) == ["mean", "linear", "LLM4IMP", "LLM4IMP, no LLM layers"]
    assert float(rows["linear"][3]) < float(rows["mean"][3])          # interpolation beats the mean on MAE


def test_bench_imputation_filter_flags_fail_in_one_line(tmp_path):
    for flags in (["--rows", "LLM4IM"], ["--robustness", "--rows", "mean"], ["--robustness", "--datasets", "SMD"]):
        done = cli("scripts/bench_imputation.py", "--quick", "--out", str(tmp_path / "out"), *flags)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


def test_robustness_table_averages_seeds_beside_the_same_seeds_clean(tmp_path):
    from scripts.bench_imputation import robustness_table

    def cell(seed, scoring, f1, vus):
        (tmp_path / f"SMD__seed{seed}__{scoring}.json").write_text(json.dumps(
            {"dataset": "SMD", "seed": seed, "scoring": scoring, "f1": f1, "vus_pr": vus, "filled": 10 * seed}))

    cell(1, "clean", 0.8, 0.4), cell(2, "clean", 0.6, 0.2), cell(3, "clean", 0.0, 0.0)
    cell(1, "0.1_point_linear", 0.5, 0.3), cell(2, "0.1_point_linear", 0.7, 0.1)
    (line,) = [ln for ln in robustness_table(tmp_path).splitlines() if ln.startswith("| SMD |")]
    assert line.split(" | ")[1:] == ["10% point", "linear", "2", "15 ± 7", "0.600 ± 0.141", "0.200 ± 0.141",
                                      "0.700 ± 0.141", "0.300 ± 0.141 |"]


def test_bench_imputation_robustness_quick_runs_and_resumes(tmp_path):
    flags = ("scripts/bench_imputation.py", "--quick", "--robustness", "--out", str(tmp_path / "out"),
             "--expe_dir", str(tmp_path / "expe"))
    done = cli(*flags)
    assert done.returncode == 0, done.stderr[-2000:]
    cells = sorted((tmp_path / "out" / "robustness").glob("*.json"))
    assert len(cells) == 9 and all("__seed1__" in p.name for p in cells)   # clean + 2 rates x 2 patterns x 2 fills
    lines = [ln for ln in (tmp_path / "out" / "IMPUTATION.md").read_text().splitlines() if ln.startswith("| synthetic |")]
    assert len(lines) == 8 and all(ln.split(" | ")[3] == "1" for ln in lines)
    stamps = [p.stat().st_mtime_ns for p in cells]
    again = cli(*flags)
    assert again.returncode == 0 and "robustness:" not in again.stderr                # nothing re-run
    assert [p.stat().st_mtime_ns for p in cells] == stamps


def test_measured_makes_its_log_folder_and_times_the_command(tmp_path):
    from scripts.benchmark import measured
    log = tmp_path / "not" / "yet" / "bench.log"
    seconds, peak_gb = measured([sys.executable, "-c", "print('hi')"], log)
    assert seconds > 0 and peak_gb > 0
    assert log.read_text().splitlines()[-1] == "hi"


def test_each_ablation_is_set_against_the_base_with_its_noise_and_cost_ratios():
    from scripts.benchmark import BASE_ROW, against_base

    def stats(vus, std, n, train):
        return {"vus_pr": (vus, std, n), "f1": (0.5, std, n), "f1_no_pa": (0.3, np.nan, n),
                "train_s": (train, 1.0, n), "windows_per_s": (10.0, 1.0, n), "peak_gb": (2.0, 0.1, n)}

    summary = {("SMD", BASE_ROW): stats(0.250, 0.002, 3, 100.0), ("SMD", "prompt none"): stats(0.245, 0.004, 2, 50.0),
               ("MSL", "prompt none"): stats(0.2, 0.0, 1, 1.0)}   # MSL has no base: no line
    lines = against_base(summary, [BASE_ROW, "prompt none"], ["SMD", "MSL"]).splitlines()
    assert len(lines) == 3 and lines[0].startswith("| data | row | seeds | VUS-PR gap (std)")
    assert lines[2] == "| SMD | prompt none | 2 / 3 | -0.005 (0.004) | +0.000 (0.004) | +0.000 (-) | 0.50 | 1.00 | 1.00 |"
    fast, slow = frozenset({"avx512"}), frozenset({"avx2"})
    same = {("SMD", BASE_ROW): slow, ("SMD", "prompt none"): slow}
    assert against_base(summary, ["prompt none"], ["SMD"], same).splitlines()[2] == lines[2]
    for machines in ({**same, ("SMD", "prompt none"): fast}, {**same, ("SMD", BASE_ROW): fast | slow}):
        marked = against_base(summary, ["prompt none"], ["SMD"], machines).splitlines()[2]
        assert marked.endswith("| 0.50† | 1.00† | 1.00† |"), marked   # costs timed on other machines are marked


def test_machines_by_row_collects_each_rows_machines():
    from scripts.benchmark import machines_by_row, one_machine
    cell = lambda det, machine: {"cell": {"dataset": "MSL", "detector": det}, "machine": machine}
    machines = machines_by_row([cell("a", "m1"), cell("a", "m1"), cell("b", "m1"), cell("c", "m2"), cell("c", "m1")])
    assert machines == {("MSL", "a"): {"m1"}, ("MSL", "b"): {"m1"}, ("MSL", "c"): {"m1", "m2"}}
    assert one_machine(machines, ("MSL", "a"), ("MSL", "b")) and not one_machine(machines, ("MSL", "a"), ("MSL", "c"))


def test_a_cell_stopped_while_scoring_reuses_its_finished_training(tmp_path, monkeypatch):
    import scripts.benchmark as bench

    runs = []
    monkeypatch.setattr(bench, "measured", lambda cmd, log: runs.append(cmd) or (12.0, 1.5))
    monkeypatch.setattr(bench, "git_commit", lambda: "abc")
    log = tmp_path / "benchmark.log"
    cmd = ["python", "run.py", "--seed", "1"]
    assert bench.train_or_reuse(cmd, tmp_path, log) == (12.0, 1.5) and len(runs) == 1
    assert bench.train_or_reuse(cmd, tmp_path, log) == (12.0, 1.5) and len(runs) == 1        # read back, not rerun
    assert "scoring only" in log.read_text()
    assert bench.train_or_reuse([*cmd[:-1], "2"], tmp_path, log) == (12.0, 1.5) and len(runs) == 2          # other flags: trains again
    monkeypatch.setattr(bench, "git_commit", lambda: "def")
    bench.train_or_reuse([*cmd[:-1], "2"], tmp_path, log)
    assert len(runs) == 3                                                                # other code: trains again
    monkeypatch.setattr(bench, "git_commit", lambda: "def+dirty")
    bench.train_or_reuse([*cmd[:-1], "2"], tmp_path, log)
    bench.train_or_reuse([*cmd[:-1], "2"], tmp_path, log)
    assert len(runs) == 5                                 # uncommitted code is never taken for the same code


def test_seed_noise_is_the_larger_std_of_the_rows_with_seeds_to_show_one_in_either_order():
    from scripts.benchmark import seed_noise, versus

    one, three, two = (0.5, float("nan"), 1), (0.4, 0.02, 3), (0.45, 0.05, 2)
    assert seed_noise(one, three) == seed_noise(three, one) == 0.02 and seed_noise(three, two) == 0.05
    assert np.isnan(seed_noise(one, one))
    assert versus(three, one, relative=False) == ("0.400 (3 seeds) against 0.500 (1 seed): +0.100, "
                                                "beyond seed noise (0.020; the other row has 1 seed)")
    assert versus(one, one).endswith("+0.0 %, seed noise not measured")
