"""Scoring answers about series: the parsed label against the true one, and a programmatic
rubric for the rationale sentence before it."""
from __future__ import annotations

import re

import numpy as np
from sklearn.metrics import f1_score

# The words by which a rationale names each kind (the generator's templates use them).
KIND_WORDS = {
    "none": ("usual pattern",),
    "spike": ("jumps",),
    "level shift": ("moves",),
    "trend change": ("drifting",),
    "frequency change": ("oscillates",),
    "variance change": ("noisier", "smoother"),
    "correlation break": ("stops moving with",),
}
DIRECTION_WORDS = {"up": (" up ", "faster", "noisier"), "down": (" down ", "slower", "smoother")}
ONSET_TOLERANCE = 5   # steps


def parse_label(answer: str) -> str | None:
    """The text after the last 'Answer:', lower case, without a final full stop; None if absent."""
    parts = re.split(r"answer:", answer, flags=re.IGNORECASE)
    label = parts[-1].split("\n")[0].strip().rstrip(".").strip().lower() if len(parts) > 1 else ""
    return label or None


def rationale_of(answer: str) -> str:
    return re.split(r"answer:", answer, flags=re.IGNORECASE)[0]


def stated_onset(answer: str) -> int | None:
    """The first 'step N' of the rationale."""
    found = re.search(r"step (\d+)", rationale_of(answer))
    return int(found.group(1)) if found else None


def stated_channel(answer: str) -> int | None:
    """The first 'channel N' of the rationale."""
    found = re.search(r"channel (\d+)", rationale_of(answer), flags=re.IGNORECASE)
    return int(found.group(1)) if found else None


def label_scores(predicted: list[str | None], truth: list[str]) -> dict[str, float]:
    """Accuracy and macro-F1 over the true labels (an unparsed answer counts as wrong), and the
    share of answers that could not be parsed."""
    n = len(truth)
    pred = [p if p is not None else "<unparsed>" for p in predicted]
    return {"accuracy": float(np.mean([p == t for p, t in zip(pred, truth)])) if n else float("nan"),
            "macro_f1": float(f1_score(truth, pred, labels=sorted(set(truth)), average="macro", zero_division=0))
            if n else float("nan"),
            "parse_failure": float(np.mean([p is None for p in predicted])) if n else float("nan"),
            "n": n}


def rubric(answer: str, kind: str, channel: int, direction: str, onset: int) -> dict[str, bool]:
    """Does the rationale name the right kind, channel, direction, and an onset within
    ONSET_TOLERANCE steps? (direction and onset: only where the anomaly has them)."""
    text = " " + rationale_of(answer).lower() + " "
    checks = {"kind": any(w in text for w in KIND_WORDS[kind])}
    if kind == "none":
        return checks
    checks["channel"] = f"channel {channel} " in text
    if direction:
        checks["direction"] = any(w in text for w in DIRECTION_WORDS[direction])
    said = stated_onset(answer)
    checks["onset"] = said is not None and abs(said - onset) <= ONSET_TOLERANCE
    return checks


def rubric_scores(checks: list[dict[str, bool]]) -> dict[str, float]:
    """The share of rationales passing each check, and of those passing all of theirs."""
    out = {k: float(np.mean([c[k] for c in checks if k in c])) for k in ("kind", "channel", "direction", "onset")
           if any(k in c for c in checks)}
    out["all"] = float(np.mean([all(c.values()) for c in checks])) if checks else float("nan")
    return out
