"""Printed tables and plots of results."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lib.runfiles import temporary_path

# The printed table's column groups, in order: (group title, ((column, format), ...)).
GROUPS = (("", (("data", "{}"), ("model", "{}"))),
          # oracle threshold searched on the test labels, with point adjustment
          ("STAMP protocol", (("precision", "{:.4f}"), ("recall", "{:.4f}"), ("f1", "{:.4f}"),
                              ("threshold", "{:.4g}"), ("delay", "{:.1f}"))),
          # no adjustment, partial adjustment (PA%K), event-level affiliation
          ("no-PA", (("f1_no_pa", "{:.4f}"), ("pa%k_auc", "{:.4f}"), ("aff_f1", "{:.4f}"))),
          ("threshold-free", (("auc_roc", "{:.4f}"), ("auc_pr", "{:.4f}"), ("vus_roc", "{:.4f}"),
                              ("vus_pr", "{:.4f}"))),
          # POT threshold fitted on validation scores
          ("label-free", (("pot_f1_pa", "{:.4f}"), ("pot_f1", "{:.4f}"), ("pot", "{}"))),
          ("cost", (("ms/window", "{:.3f}"),)))
COLUMNS = tuple(col for _, cols in GROUPS for col in cols)
MEAN_COLUMNS = tuple(name for name, _ in COLUMNS if name not in ("data", "model", "threshold", "delay", "pot"))


def format_table(rows: Sequence[dict[str, Any]], groups=GROUPS) -> str:
    """A fixed-width text table under a line of group titles; missing or NaN cells print as '-'."""
    def cell(row, name, fmt):
        v = row.get(name)
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "-"
        return fmt.format(v)

    columns = [col for _, cols in groups for col in cols]
    body = [[cell(r, n, f) for n, f in columns] for r in rows]
    head = [n for n, _ in columns]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    titles, first = [], 0
    for title, cols in groups:
        last = first + len(cols) - 1
        widths[last] += max(0, len(title) + 2 - (sum(widths[first:last + 1]) + 2 * (len(cols) - 1)))
        span = sum(widths[first:last + 1]) + 2 * (len(cols) - 1)
        titles.append(f"{title:-^{span}}" if title else " " * span)
        first = last + 1
    return "\n".join(["  ".join(titles), line(head), line(["-" * w for w in widths])] + [line(b) for b in body])


def write_json(obj: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    tmp.write_text(json.dumps(obj, indent=2, default=_jsonable))
    tmp.replace(path)


def _jsonable(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def plot_scores(score: np.ndarray, labels: np.ndarray, thresholds: dict[str, float], title: str, path: Path,
                pa_k: dict | None = None) -> None:
    """The anomaly score over time with labelled segments shaded and each threshold as a line
    (`{"name": value}`); beside it, when given, the best F1 under PA%K against K."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lib.metrics.counts import segments

    fig, axes = plt.subplots(1, 2 if pa_k else 1, figsize=(15 if pa_k else 12, 3.2), squeeze=False,
                             gridspec_kw={"width_ratios": [4, 1]} if pa_k else None)
    ax = axes[0, 0]
    t = np.arange(score.size)
    ax.plot(t, score, lw=0.6, color="tab:blue", label="anomaly score")
    for i, (s, e) in enumerate(segments(labels)):
        ax.axvspan(s, e, color="tab:red", alpha=0.2, lw=0, label="labelled anomaly" if i == 0 else None)
    for (name, value), style in zip(thresholds.items(), ("--", ":", "-.", (0, (5, 5)))):
        ax.axhline(value, color="black", ls=style, lw=0.8, label=name)
    ax.set_xlabel("test step")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    if pa_k:
        curve = axes[0, 1]
        curve.plot(pa_k["k"], pa_k["f1"], color="tab:green")
        curve.set_xlabel("K (%)")
        curve.set_ylabel("best F1 under PA%K")
        curve.set_ylim(0, 1.05)
        curve.set_title(f"PA%K, area {pa_k['auc']:.3f}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
