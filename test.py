"""Score a trained detector on its test set and report STAMP's protocol.

    python test.py --data SMD --entity machine-1-2 --pred_model gat --recon_model ae

The models are rebuilt from the config stored in the checkpoint; only
scoring flags (and where the data lives) may differ from training.
Results go to expe/results/<data>_<model>.json and .png.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch

from lib.train import checkpoint
from lib.score.baselines import BASELINES, baseline_scores
from lib.runfiles import run_paths
from lib.config import Config, add_config_flags, overrides_from_args, rescorable_fields
from lib.data import prepare
from lib.data.registry import read_dataset
from lib.errors import UserError, cli_main
from lib.runfiles import check_writable, run_lock, temporary_path
from lib.data.windows import last_windows, window_labels
from lib.score.judge import Labels, explain, get_final_result, judge, scores_to_time
from lib.score.reasoning import explain_in_words
from lib.metrics.counts import hit_rate
from lib.metrics.reasoning import explanation_scores
from lib.outputs.report import MEAN_COLUMNS, format_table, plot_scores, write_json
from lib.score.branch_errors import BRANCHES, window_errors
from lib.utils import pick_device, quiet_third_party, seed_everything, setup_logging
from lib.metrics.vus import find_period
from model.imputers import llm4imp_filler
from model.llm.backends import resolve_dtype
from model.registry import build_models
from run import entities_of

log = logging.getLogger("llm_tsad")

# Flags test.py may change relative to the checkpoint: they affect scoring or
# where things are read and written, never the trained weights. The frozen LLM
# is not in the checkpoint, so its precision may differ at scoring (bfloat16
# scores several times faster on CPU) and its prefix cache may be off.
SCORING_FLAGS = rescorable_fields()


def config_from_checkpoint(ckpt: dict, typed: dict, path: Path) -> Config:
    """The stored config, with the scoring flags the user typed on top."""
    stored = Config.from_dict(ckpt["config"])
    clash = {k: v for k, v in typed.items() if k not in SCORING_FLAGS and getattr(stored, k) != v}
    if clash:
        k, v = next(iter(clash.items()))
        raise UserError(f"{path} was trained with --{k} {getattr(stored, k)}, not {v}; retrain, or drop the flag")
    cfg = stored.replace(**{k: v for k, v in typed.items() if k in SCORING_FLAGS})
    cfg.validate()
    return cfg


def check_scaler(ckpt: dict, data, path: Path) -> None:
    """The min-max scaler recomputed from the data must be the one the checkpoint was trained
    with: another (a changed file, another --nan_policy or --impute) would feed the models
    data on another scale, silently."""
    for key, now in (("scaler_min", data.scaler_min), ("scaler_scale", data.scaler_scale)):
        then = np.asarray(ckpt[key], dtype=np.float64)
        now = np.asarray(now, dtype=np.float64)
        if then.shape != now.shape or not np.allclose(then, now, rtol=1e-9, atol=1e-12):
            bad = int(np.argmax(np.abs(then - now))) if then.shape == now.shape else 0
            raise UserError(f"{path}: the training data's scaler differs from the one it was trained with "
                            f"({key} of feature {bad}: {then.ravel()[bad]:.6g} then, {now.ravel()[bad]:.6g} now); "
                            "same files, --nan_policy and --impute as at training?")


def load_models(ckpt: dict, cfg: Config, n_features: int, device: torch.device, path: Path):
    if ckpt["n_features"] != n_features:
        raise UserError(f"{path} expects {ckpt['n_features']} features, the data has {n_features}")
    pred, recon = build_models(cfg, n_features, device)
    pred.load_state_dict(ckpt["pred"])
    recon.load_state_dict(ckpt["recon"])
    return pred, recon


def evaluate_one(base: Config, typed: dict, ckpt_path: Path | None, baseline_names: list[str],
                 explain_k: int = 0, reasoner=None) -> list[dict]:
    """Score one entity's checkpoint (and the baselines asked for); its rows of the printed table."""
    path = ckpt_path or run_paths(base)["best"]
    ckpt = checkpoint.load(path)
    cfg = config_from_checkpoint(ckpt, typed, path)
    paths = run_paths(cfg)
    check_writable(paths[k].parent for k in ("log", "result", "lock"))
    with run_lock(paths["lock"]):
        return score_checkpoint(ckpt, path, cfg, paths, baseline_names, explain_k, reasoner)


def score_checkpoint(ckpt: dict, path: Path, cfg: Config, paths: dict, baseline_names: list[str],
                     explain_k: int, reasoner=None) -> list[dict]:
    """`evaluate_one`'s work, under the run's lock: errors -> scores judged against the labels
    (with the baselines beside them) -> the result files; the rows of the printed table."""
    setup_logging(paths["log"])
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    data = prepare(cfg, learned_filler=llm4imp_filler(cfg, paths["imputer"], fit=False))
    pred, recon = load_models(ckpt, cfg, data.n_features, device, path)
    check_scaler(ckpt, data, path)
    # consecutive windows, so that the trailing smoothing and POT's tail see the series as it runs
    calib = last_windows(data.val, cfg.window_size, cfg.calib_windows)
    val_err = window_errors(pred, recon, calib.to(device), cfg)
    test_err = window_errors(pred, recon, data.test.to(device), cfg)
    window = vus_window(cfg, data)
    labels = Labels(orig=data.test_labels_orig, model=data.test_labels)
    res = get_final_result(test_err, val_err, labels, cfg, window)
    baselines = judge_baselines(baseline_names, data, cfg, window, calib)
    inference = inference_speed(test_err)
    if cfg.pred_model == "llm":   # the dtype that ran, where --llm_dtype auto chose it
        inference["llm_dtype"] = str(resolve_dtype(cfg.llm_dtype)).removeprefix("torch.")
    result = {"config": cfg.to_dict(), "seed": cfg.seed, "git_commit": checkpoint.git_commit(),
              "checkpoint": str(path), "trained_epoch": ckpt["epoch"], "trained_git_commit": ckpt.get("git_commit"),
              "protocol": "STAMP: best-F1 threshold searched on the test labels (oracle), with point adjustment, "
                          f"over {'window' if cfg.stamp_labels == 'window' else 'per-step'} labels",
              "metrics": res["metrics"], "by_score_agg": res["by_score_agg"], "beyond_pa": res["beyond_pa"],
              "label_free": res["label_free"], "baselines": baselines,
              "root_cause": root_cause_of(res, data, cfg, explain_k, reasoner), "inference": inference,
              # threshold-free accuracy of each branch: the mean absolute error over all test windows
              "test_errors": {f"{k}_mae": float(test_err[k].mean()) for k in BRANCHES},
              "data": {"source": data.source, "test_steps": int(data.test_labels_orig.size), "impute": cfg.impute,
                       "filled_values": data.filled, "test_missing": [cfg.test_missing_rate, cfg.test_missing_pattern],
                       "anomaly_ratio": float(data.test_labels_orig.mean()),
                       "calibration_windows": int(val_err["pred"].shape[0])}}
    write_outputs(result, res, labels, cfg, window, paths)
    return [table_row(cfg.data_tag, cfg.model_name, res, inference["ms_per_window"]),
            *(table_row(cfg.data_tag, f"baseline {name}", b, float("nan")) for name, b in baselines.items())]


def inference_speed(test_err: dict) -> dict[str, float]:
    """Scoring cost: test windows, seconds, ms per window and windows per second."""
    n = test_err["pred"].shape[0]
    return {"windows": n, "seconds": test_err["seconds"], "ms_per_window": 1000 * test_err["seconds"] / n,
            "windows_per_s": n / test_err["seconds"]}


def write_outputs(result: dict, res: dict, labels: Labels, cfg: Config, window: int, paths: dict) -> None:
    """The result JSON, the saved scores (.npz) and the plot, each said in the log."""
    m, lf, mae, inference = result["metrics"], result["label_free"], result["test_errors"], result["inference"]
    log.info("%s %s: F1(PA) %.4f P %.4f R %.4f at threshold %.4g; %d test windows in %.1fs; test MAE pred %.4f "
             "recon %.4f", cfg.data_tag, cfg.model_name, m["f1"], m["precision"], m["recall"], m["threshold"],
             inference["windows"], inference["seconds"], mae["pred_mae"], mae["recon_mae"])
    log.info("label-free: %s threshold %.4g on %d consecutive validation windows (%d above the %g quantile)",
             lf["pot"]["method"], lf["pot"]["threshold"], lf["pot"]["n_calibration"], lf["pot"]["n_excess"],
             cfg.pot_level)
    write_json(result, paths["result"])
    save_scores(res, labels, cfg, window, paths["scores"])
    # the label-free thresholds belong to the validation-normalised score: drawn only on that scale
    lines = {"best-F1 threshold, PA (oracle)": m["threshold"]}
    if cfg.norm_source == "val":
        lines.update({f"POT, {lf['pot']['method']} (label-free)": lf["pot"]["threshold"],
                      f"validation {cfg.val_quantile:g} quantile": lf["val_quantile"]["threshold"]})
    plot_scores(res["score"], labels.orig, lines, f"{cfg.data_tag} {cfg.model_name}: F1(PA) {m['f1']:.3f}",
                paths["plot"], res["beyond_pa"]["pa_k"])
    log.info("results: %s, %s, %s", paths["result"], paths["scores"], paths["plot"])


def save_scores(res: dict, labels: Labels, cfg: Config, window: int, path: Path) -> None:
    """Every score behind the result, for tools of one's own (TSB-AD's `get_metrics` among them):
    per original step `score`, `free_score` (validation-normalised), `label`, `feature_<branch>`
    `[T, N]`; per window `window_score`, `window_label`; the thresholds and VUS's window."""
    m, lf = res["metrics"], res["label_free"]
    arrays = {"score": res["score"], "free_score": res["free_score"], "label": labels.orig.astype(np.int8),
              "window_score": res["window_score"],
              "window_label": window_labels(labels.model, cfg.window_size).astype(np.int8),
              **{f"feature_{k}": v.astype(np.float32) for k, v in res["feature_scores"].items()},
              "threshold_pa": m["threshold"], "threshold_pot": lf["pot"]["threshold"],
              "threshold_val_quantile": lf["val_quantile"]["threshold"], "vus_window": int(window),
              "down_len": int(cfg.down_len), "window_size": int(cfg.window_size)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path, ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def root_cause_of(res: dict, data, cfg: Config, explain_k: int, reasoner=None) -> dict:
    """HitRate@100%/150% where the data names the features behind each anomaly (SMD), and with
    `--explain K` the top-K features and driving branch of every alarm at the PA threshold;
    with `--explain text` also the reasoner's words about each alarm (printed too)."""
    out = hit_rates(res["feature_scores"]["combined"], data.interpretation)
    if explain_k:
        out["alarms"] = explain(res["score"], res["feature_scores"], res["metrics"]["threshold"], cfg, data.names,
                                explain_k)
    if reasoner is not None:
        model, rcfg = reasoner
        explain_in_words(model, np.asarray(read_dataset(cfg).test, dtype=np.float32), out["alarms"], data.names, rcfg)
        for a in out["alarms"]:
            w = a["words"]
            print(f"alarm at steps {a['start']}-{a['end']}: {w['kind'] or 'no answer'}"
                  f"{' on ' + w['feature'] if w['feature'] else ''}"
                  f"{', from step ' + str(w['onset_step']) if w['onset_step'] is not None else ''}")
        if data.interpretation:
            out["words_scores"] = explanation_scores(out["alarms"], data.interpretation, data.kinds, data.names)
            print(words_summary(out["words_scores"]))
    return out


def words_summary(s: dict) -> str:
    """One line of `explanation_scores`' figures."""
    return (f"explanations: {s['on_anomaly']} of {s['alarms']} alarms on a labelled anomaly; kind accuracy "
            f"{s['kind_accuracy']:.2f}; named channel responsible {s['named_hit']:.2f} (detector's top feature "
            f"{s['top1_hit']:.2f}, any shown {s['topk_contains']:.2f}); false alarms called none "
            f"{s['false_alarms_said_none']:.2f}")


def hit_rates(feature_scores: np.ndarray | None, interpretation: list) -> dict[str, float]:
    """HitRate@100% and @150% of per-step feature scores `[T, N]`; empty where the data has no
    interpretation labels or the detector no feature ranking."""
    if not interpretation or feature_scores is None:
        return {}
    return {f"hitrate@{int(p * 100)}%": hit_rate(feature_scores, interpretation, p) for p in (1.0, 1.5)}


def table_row(data: str, model: str, judged: dict, ms_per_window: float) -> dict:
    """One line of the printed table from `judge`'s result."""
    extra, pot = judged["beyond_pa"], judged["label_free"]["pot"]
    return {"data": data, "model": model, **judged["metrics"], "f1_no_pa": extra["no_pa"]["f1"],
            "pa%k_auc": extra["pa_k"]["auc"], "auc_roc": extra["auc_roc"], "auc_pr": extra["auc_pr"],
            "aff_f1": extra["affiliation"]["f1"], "vus_roc": extra["vus_roc"], "vus_pr": extra["vus_pr"],
            "pot_f1_pa": pot["pa"]["f1"], "pot_f1": pot["no_pa"]["f1"],
            "pot": "pot" if pot["method"] == "pot" else "q", "ms/window": ms_per_window}


def judge_baselines(names: list[str], data, cfg: Config, window: int, calib: torch.Tensor) -> dict[str, dict]:
    """Each baseline through the same windows and metrics as the model (`lib/score/baselines.py`),
    its label-free thresholds calibrated on the same validation windows `calib`."""
    out = {}
    T = data.test_labels_orig.shape[0]
    labels = Labels(orig=data.test_labels_orig, model=data.test_labels)
    for name in names:
        (val_s, _), (test_s, test_feats) = baseline_scores(name, data.train, [calib, data.test], cfg)
        judged = judge(test_s, val_s, labels, cfg, window)
        feats = None if test_feats is None else scores_to_time(test_feats, cfg, data.test.shape[0], T)
        out[name] = {**{k: v for k, v in judged.items() if k not in ("score", "window_score", "free_score")},
                     "root_cause": hit_rates(feats, data.interpretation)}
    return out


RESULT_LEGEND = """
precision .. delay: STAMP's protocol, the best-F1 threshold searched on the test labels (an oracle) over its grid of
--search_steps, with point adjustment, over window labels (--stamp_labels window; delay in windows). Every other
column is over the original steps: f1_no_pa, the exact best F1 without adjustment. pa%k_auc: area under the best F1
over PA%K, K = 0..100 %. aff_f1: the best affiliation F. auc_*, vus_*: threshold-free. pot_f1_pa, pot_f1: label-free,
at the POT threshold fitted on validation scores, with and without adjustment; 'q' marks a POT that fell back to
its --pot_level quantile."""


def vus_window(cfg: Config, data) -> int:
    """`--vus_window`, or TSB-AD's choice: the dominant period of the first feature of the raw
    test series (unscaled, at its own resolution), as its `find_length_rank` is run."""
    return cfg.vus_window or find_period(data.test_raw_first)


def explain_arg(text: str):
    if text == "text":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of features or 'text', got {text!r}") from None


def reasoner_for(args) -> tuple[int, object]:
    """(K, (reasoner, its config) or None) for `--explain` and `--reasoner`."""
    if args.explain != "text":
        return args.explain, None
    if args.reasoner is None:
        raise UserError("--explain text needs --reasoner CHECKPOINT (from python reason.py train)")
    from reason import load_reasoner, rescoring_overrides
    model, rcfg = load_reasoner(str(args.reasoner), rescoring_overrides(overrides_from_args(args)))
    if not hasattr(model, "generate"):
        raise UserError(f"--reasoner {args.reasoner}: a {rcfg.rs_model} checkpoint cannot explain in words; "
                        "use a tslm one")
    return rcfg.rs_channels, (model, rcfg)


def build_parser() -> argparse.ArgumentParser:
    """test.py's flags: every Config field, and its own three."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_flags(parser)
    parser.add_argument("--checkpoint", type=Path, default=None, help="a checkpoint file (default: from the flags)")
    parser.add_argument("--baselines", nargs="*", choices=list(BASELINES), default=None,
                        help=f"also score these baselines the same way (alone: all of {', '.join(BASELINES)})")
    parser.add_argument("--explain", type=explain_arg, nargs="?", const=3, default=0, metavar="K|text",
                        help="for each alarm at the PA threshold, write its top K features (default 3) and the "
                             "branch that drove it to the result JSON (root_cause.alarms); 'text': also a "
                             "one-line explanation in words from --reasoner, over its number of channels")
    parser.add_argument("--reasoner", type=Path, default=None, help="with --explain text: a checkpoint of "
                                                                      "reason.py train (tslm)")
    return parser


@cli_main
def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    baseline_names = list(BASELINES) if args.baselines == [] else (args.baselines or [])
    typed = overrides_from_args(args)
    base = Config(**typed)
    base.validate()
    if base.threads:
        torch.set_num_threads(base.threads)
    quiet_third_party()
    entities = [base.entity] if args.checkpoint else entities_of(base)
    explain_k, reasoner = reasoner_for(args)
    rows = [row for e in entities
            for row in evaluate_one(base.replace(entity=e), {**typed, "entity": e} if "entity" in typed else typed,
                                    args.checkpoint, baseline_names, explain_k, reasoner)]
    if len(entities) > 1:
        for model in dict.fromkeys(r["model"] for r in rows):
            mine = [r for r in rows if r["model"] == model]
            rows.append({"data": f"mean of {len(mine)}", "model": model,
                         **{k: float(np.mean([r[k] for r in mine])) for k in MEAN_COLUMNS}})
    print(RESULT_LEGEND)
    print(format_table(rows))


if __name__ == "__main__":
    main()
