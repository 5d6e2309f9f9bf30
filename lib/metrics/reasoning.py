"""Scoring answers about series: the parsed label against the true one, and a programmatic
rubric for the rationale sentence before it."""
from __future__ import annotations

import collections
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


def label_scores(predicted: list[str | None], truth: list[str]) -> dict:
    """Accuracy and macro-F1 over the true labels (an unparsed answer counts as wrong), the
    share of answers that could not be parsed, and how often each label was said (`said`, the
    most frequent first: a model that gives one label to every series shows there)."""
    n = len(truth)
    pred = [p if p is not None else "<unparsed>" for p in predicted]
    return {"accuracy": float(np.mean([p == t for p, t in zip(pred, truth)])) if n else float("nan"),
            "macro_f1": float(f1_score(truth, pred, labels=sorted(set(truth)), average="macro", zero_division=0))
            if n else float("nan"),
            "parse_failure": float(np.mean([p is None for p in predicted])) if n else float("nan"),
            "n": n, "said": dict(collections.Counter(pred).most_common())}


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


def overlapping_segment(start: int, end: int, interpretation: list[tuple[int, int, list[int]]]) -> int | None:
    """The index of the labelled segment (`(start, end exclusive, features)`) that overlaps the
    steps `start..end` (inclusive) most, or None if none does."""
    overlaps = [min(end + 1, e) - max(start, s) for s, e, _ in interpretation]
    best = int(np.argmax(overlaps)) if overlaps else -1
    return best if best >= 0 and overlaps[best] > 0 else None


def explanation_scores(alarms: list[dict], interpretation: list[tuple[int, int, list[int]]], kinds: list[str],
                       names: list[str]) -> dict:
    """How well a reasoner's words about each alarm (`explain_in_words`' `alarm["words"]`) match
    the labelled segment it overlaps most.

    - kind_accuracy: the stated kind equals the segment's (where `kinds` gives one);
      by_kind: per true kind, the count, the accuracy and what was said;
    - named_hit: the channel the words name is among the segment's responsible features (an alarm
      whose words name none counts as a miss), beside two readings of the detector alone:
      top1_hit (its highest-ranked feature) and topk_contains (any of the features the reasoner saw);
    - false_alarms_said_none: alarms over no labelled segment that the reasoner calls "none".
    """
    on, off = [], []
    for a in alarms:
        seg = overlapping_segment(a["start"], a["end"], interpretation)
        (off if seg is None else on).append((a, seg))
    mean = lambda xs: float(np.mean(xs)) if xs else float("nan")
    by_kind: dict[str, dict] = {}
    for a, seg in on:
        truth = kinds[seg] if seg < len(kinds) else ""
        if truth:
            entry = by_kind.setdefault(truth, {"n": 0, "correct": 0, "said": {}})
            said = a["words"]["kind"] or "<unparsed>"
            entry["n"] += 1
            entry["correct"] += said == truth
            entry["said"][said] = entry["said"].get(said, 0) + 1
    responsible = lambda seg: {names[i] for i in interpretation[seg][2]}
    return {"alarms": len(alarms), "on_anomaly": len(on),
            "kind_accuracy": sum(e["correct"] for e in by_kind.values()) / sum(e["n"] for e in by_kind.values())
            if by_kind else float("nan"),
            "by_kind": {k: {"n": e["n"], "accuracy": e["correct"] / e["n"], "said": e["said"]}
                        for k, e in sorted(by_kind.items())},
            "named_hit": mean([a["words"]["feature"] in responsible(seg) for a, seg in on]),
            "top1_hit": mean([a["top_features"][0] in responsible(seg) for a, seg in on]),
            "topk_contains": mean([bool(responsible(seg) & set(a["top_features"])) for a, seg in on]),
            "false_alarms_said_none": mean([a["words"]["kind"] == "none" for a, _ in off])}
