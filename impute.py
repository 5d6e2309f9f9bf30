"""Fill artificial gaps in a dataset and score the imputer on them.

    python impute.py --data ETTh1 --missing_rate 0.1 --missing_pattern point --model llm4imp

The dataset's train / validation / test series (lib/data/imputation.py) are cut into windows
of --imp_steps; the test windows get artificial gaps (--missing_pattern, --missing_rate,
--seed); the imputer trains on the training windows (its own masking, as PyPOTS does it) and
validates on validation windows gapped the same way. MAE, MSE and MRE are computed on the
artificially removed test values only, on standard-scaled data. Writes
expe/results/imputation/<run>.json and a .png of a few imputed series.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from lib.train import checkpoint
from lib.config import Config, config_from_cli
from lib.data.imputation import add_gaps, evenly_spaced, imputation_splits, masked_errors, to_windows
from lib.errors import cli_main
from lib.outputs.report import write_json
from lib.runfiles import check_writable, run_lock
from lib.utils import seed_everything, set_threads_and_quiet, setup_logging
from model.imputers import IMPUTERS, TRAINED, build_imputer


def run_name(cfg: Config) -> str:
    return f"{cfg.data_tag}_{cfg.imputer}_{cfg.missing_pattern}{cfg.missing_rate:g}_seed{cfg.seed}"


def impute_windows(imputer, X: np.ndarray) -> tuple[np.ndarray, float]:
    """The imputer's filled windows and the seconds it took."""
    t0 = time.perf_counter()
    out = np.asarray(imputer.impute({"X": X}))
    return out, time.perf_counter() - t0


def epochs_run(imputer, cfg: Config) -> int:
    """Epochs PyPOTS ran: all of them, or up to the best one plus the patience when it stopped early."""
    best = getattr(imputer, "best_epoch", -1)
    return cfg.epochs if best < 0 or not cfg.patience else min(cfg.epochs, best + cfg.patience)


def plot_imputation(X_ori: np.ndarray, X: np.ndarray, imputed: np.ndarray, names: list[str], title: str,
                    path: Path, n: int = 3) -> None:
    """A few test windows' series: observed values, the removed truth and the imputation."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    holes = np.isnan(X) & ~np.isnan(X_ori)
    picks = list(zip(*np.nonzero(holes.any(axis=1))))[:n]
    fig, axes = plt.subplots(len(picks) or 1, 1, figsize=(9, 2.4 * max(len(picks), 1)), squeeze=False)
    for ax, (w, f) in zip(axes[:, 0], picks):
        steps = np.arange(X.shape[1])
        ax.plot(steps, imputed[w, :, f], color="tab:orange", label="imputed")
        ax.plot(steps, X[w, :, f], "o-", color="tab:blue", ms=3, label="observed")
        ax.plot(steps[holes[w, :, f]], X_ori[w, holes[w, :, f], f], "x", color="black", label="removed truth")
        ax.set_ylabel(f"{names[f]}\n(window {w})")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[0, 0].set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


@cli_main
def main() -> None:
    cfg = config_from_cli(__doc__.splitlines()[0], "imputer", tuple(IMPUTERS))
    set_threads_and_quiet(cfg)
    root = Path(cfg.expe_dir)
    name = run_name(cfg)
    check_writable((root / "log" / "imputation", root / "results" / "imputation"))
    with run_lock(root / "results" / "imputation" / f"{name}.lock"):
        impute_and_report(cfg, root, name)


def impute_and_report(cfg: Config, root: Path, name: str) -> None:
    """Fit the imputer on the training windows, fill the test gaps, write the result and plot."""
    log = setup_logging(root / "log" / "imputation" / f"{name}.log")
    seed_everything(cfg.seed)
    data = imputation_splits(cfg)
    train, val, test = (to_windows(part, cfg.imp_steps) for part in (data.train, data.val, data.test))
    train = evenly_spaced(train, cfg.max_train_windows)
    val_gappy = add_gaps(val, cfg.missing_rate, cfg.missing_pattern, cfg.seed + 1)
    test_gappy = add_gaps(test, cfg.missing_rate, cfg.missing_pattern, cfg.seed)
    log.info("%s: windows of %d steps x %d features: train %d, val %d, test %d; %s gaps at rate %g",
             data.source, cfg.imp_steps, train.shape[2], len(train), len(val), len(test), cfg.missing_pattern,
             cfg.missing_rate)
    imputer = build_imputer(cfg, train.shape[2])
    t0 = time.perf_counter()
    if cfg.imputer in TRAINED:
        imputer.fit({"X": train}, {"X": val_gappy, "X_ori": val})
    fit_s = time.perf_counter() - t0
    imputed, infer_s = impute_windows(imputer, test_gappy)
    errors = masked_errors(imputed, test, np.isnan(test_gappy) & ~np.isnan(test))
    n_epochs = epochs_run(imputer, cfg) if cfg.imputer in TRAINED else 0
    timing = {"fit_seconds": fit_s, "epochs": n_epochs, "seconds_per_epoch": fit_s / n_epochs if n_epochs else 0.0,
              "inference_seconds": infer_s, "windows_per_s": len(test) / infer_s}
    log.info("%s on %s: MAE %.4f MSE %.4f MRE %.4f; fit %.1fs (%d epochs), %.0f test windows/s", cfg.imputer,
             data.source, errors["mae"], errors["mse"], errors["mre"], fit_s, n_epochs, timing["windows_per_s"])
    result = root / "results" / "imputation" / f"{name}.json"
    write_json({"config": cfg.to_dict(), "seed": cfg.seed, "git_commit": checkpoint.git_commit(),
                "data": {"source": data.source, "windows": {"train": len(train), "val": len(val), "test": len(test)},
                         "scored_values": int((np.isnan(test_gappy) & ~np.isnan(test)).sum())},
                "metrics": errors, "timing": timing}, result)
    plot_imputation(test, test_gappy, imputed, data.names, f"{data.source}: {cfg.imputer}, {cfg.missing_pattern} "
                    f"{cfg.missing_rate:g}, MAE {errors['mae']:.3f}", result.with_suffix(".png"))
    print(f"{cfg.imputer} on {data.source} ({cfg.missing_pattern}, {cfg.missing_rate:g}): MAE {errors['mae']:.4f}  "
          f"MSE {errors['mse']:.4f}  MRE {errors['mre']:.4f}  fit {fit_s:.1f}s  {timing['windows_per_s']:.0f} windows/s")
    log.info("results: %s", result)


if __name__ == "__main__":
    main()
