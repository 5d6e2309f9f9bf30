"""Reasoning tasks: short series with one injected anomaly of a known kind (or none), and
questions about it with templated answers (`reason.py make-data`).

Every example is a standardised window `[T, N]` (each channel zero mean, unit std before
the injection) from a background, with at most one anomaly:

- spike: 1-3 steps pushed up or down by `magnitude`·2 standard deviations;
- level shift: everything from the onset moved by `magnitude`;
- trend change: a ramp from the onset, reaching `magnitude` `length` steps later and going on;
- frequency change: a segment replayed twice as fast (up) or half as fast (down);
- variance change: a segment with added noise of std `magnitude`/2 (up) or smoothed by a
  moving average (down);
- correlation break (N >= 2): a segment of one channel replaced by the same stretch of its own
  series reversed in time, so that it stops moving with the other channels.

Each example records kind, channel, onset, end, direction and magnitude, and carries one
question of each type: the kind as multiple choice and as free text, the channel, and the
onset bucket (the first, middle or last third of the series). Every answer is one sentence of
rationale followed by `Answer: <label>` (`rationale=False`: the label alone, a diagnostic).

Splits: `train` and `test` draw from one parameter region; `heldout` from another that
training never sees: larger magnitudes, longer segments, other background periods (and,
where the real datasets are present, other real backgrounds: SMD and MSL against ETT).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lib.errors import UserError

KINDS = ("none", "spike", "level shift", "trend change", "frequency change", "variance change", "correlation break")
UNIVARIATE_KINDS = KINDS[:-1]
ONSET_BUCKETS = ("early", "middle", "late")
QUESTION_TYPES = ("kind_choice", "kind_free", "channel", "onset")
FREE_QUESTION = "What, if anything, is unusual in this series?"


@dataclass(frozen=True)
class Region:
    """The parameter region a split draws from."""
    magnitude: tuple[float, float]     # in background standard deviations
    length: tuple[int, int]            # steps of a segment anomaly
    periods: tuple[float, float]       # of the synthetic background's main sine
    real: tuple[str, ...]              # real backgrounds used when present


REGIONS = {
    "train": Region((1.0, 2.5), (8, 20), (10.0, 24.0), ("ETTh1", "ETTh2")),
    "test": Region((1.0, 2.5), (8, 20), (10.0, 24.0), ("ETTh1", "ETTh2")),
    "heldout": Region((3.0, 4.5), (24, 36), (30.0, 48.0), ("SMD", "MSL")),
}


@dataclass
class Example:
    series: np.ndarray           # [T, N] float32
    kind: str
    channel: int                 # -1 for none
    onset: int                   # -1 for none
    end: int                     # last anomalous step, -1 for none
    length: int                  # the drawn segment length (the trend's ramp), 0 for none
    direction: str               # "up" | "down" | ""
    magnitude: float
    background: str
    split: str
    questions: list[dict] = field(default_factory=list)
    clean: np.ndarray | None = None   # [T, N]: the same window before the injection (grounding checks)

    def to_json(self) -> dict:
        d = asdict(self)
        for key in ("series", "clean"):
            d[key] = None if d[key] is None else np.round(d[key], 4).tolist()
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Example":
        arrays = {k: None if d.get(k) is None else np.asarray(d[k], dtype=np.float32) for k in ("series", "clean")}
        return cls(**{**d, **arrays})

    def without_anomaly(self) -> "Example":
        """The same window before the injection, as a 'none' example with its questions."""
        ex = Example(self.clean, "none", -1, -1, -1, 0, "", 0.0, self.background, self.split)
        ex.questions = questions_for(ex, self.has_rationale)
        return ex

    @property
    def has_rationale(self) -> bool:
        """Whether its answers open with a rationale (make-data's `--rs_rationale`)."""
        return not self.questions or not self.questions[0]["answer"].startswith("Answer:")

    @property
    def onset_bucket(self) -> str:
        if self.onset < 0:
            return "none"
        return ONSET_BUCKETS[min(3 * self.onset // self.series.shape[0], 2)]


# ---- backgrounds -----------------------------------------------------------------------------------
def synthetic_background(rng: np.random.Generator, T: int, N: int, region: Region) -> np.ndarray:
    """`[T, N]`: every channel a mixture of a shared sine (period drawn from the region), its
    first harmonic and noise; channels correlated through the shared part."""
    t = np.arange(T)
    period = rng.uniform(*region.periods)
    phase = rng.uniform(0, 2 * np.pi)
    shared = np.stack([np.sin(2 * np.pi * t / period + phase), np.sin(4 * np.pi * t / period + phase)], axis=1)
    mix = rng.normal(0, 1, (2, N)) + np.array([[1.0], [0.0]])
    return shared @ mix + rng.normal(0, 0.15, (T, N))


def real_backgrounds(names: tuple[str, ...], data_root: str) -> dict[str, np.ndarray]:
    """Training series `[T, N]` of the real datasets present under `data_root` (normal data)."""
    from lib.config import Config
    from lib.data.registry import read_dataset
    out = {}
    for name in names:
        entity = {"SMD": "machine-1-2", "MSL": "C-1"}.get(name, "")   # entities the shared copy holds
        try:
            raw = read_dataset(Config(data=name, entity=entity, data_root=data_root))
        except UserError:
            continue
        series = np.asarray(raw.train, dtype=np.float64)
        series = series[:, series.std(axis=0) > 1e-6]
        if series.shape[1] and np.isfinite(series).all():
            out[name] = series
    return out


def window_of(series: np.ndarray, rng: np.random.Generator, T: int, N: int) -> np.ndarray | None:
    """A random `[T, N]` window of a real series (N channels that vary in it), or None."""
    start = int(rng.integers(0, series.shape[0] - T))
    win = series[start:start + T]
    moving = np.flatnonzero(win.std(axis=0) > 1e-3 * (series.std(axis=0) + 1e-12))
    if moving.size < N:
        return None
    return win[:, rng.choice(moving, N, replace=False)]


def standardised(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-8)


# ---- anomalies -------------------------------------------------------------------------------------
def inject(x: np.ndarray, kind: str, rng: np.random.Generator, region: Region) -> dict:
    """Insert one anomaly of `kind` into the standardised `x` `[T, N]` in place; its record."""
    T, N = x.shape
    if kind == "none":
        return {"channel": -1, "onset": -1, "end": -1, "length": 0, "direction": "", "magnitude": 0.0}
    c = int(rng.integers(N))
    mag = float(rng.uniform(*region.magnitude))
    length = int(rng.integers(region.length[0], region.length[1] + 1))
    onset = int(rng.integers(T // 8, T - length - T // 16))
    end = onset + length - 1
    direction = str(rng.choice(["up", "down"]))
    sign = 1.0 if direction == "up" else -1.0
    seg = slice(onset, end + 1)
    if kind == "spike":
        end = onset + int(rng.integers(0, 3))
        x[onset:end + 1, c] += sign * 2 * mag
    elif kind == "level shift":
        end = T - 1
        x[onset:, c] += sign * mag
    elif kind == "trend change":
        end = T - 1
        x[onset:, c] += sign * mag * (np.arange(T - onset) + 1) / length
    elif kind == "frequency change":
        speed = 2.0 if direction == "up" else 0.5
        src = onset + np.arange(length) * speed
        x[seg, c] = np.interp(np.clip(src, 0, T - 1), np.arange(T), x[:, c])
    elif kind == "variance change":
        if direction == "up":
            x[seg, c] += rng.normal(0, mag / 2, length)
        else:
            k = 7
            padded = np.r_[np.full(k // 2, x[onset, c]), x[seg, c], np.full(k // 2, x[end, c])]
            x[seg, c] = np.convolve(padded, np.ones(k) / k, mode="valid")
    elif kind == "correlation break":
        direction = ""
        x[seg, c] = x[seg, c][::-1].copy()
    else:
        raise ValueError(kind)
    return {"channel": c, "onset": onset, "end": end, "length": length, "direction": direction,
            "magnitude": mag if kind in ("spike", "level shift", "trend change", "variance change") else 0.0}


# ---- questions -------------------------------------------------------------------------------------
def rationale(ex: Example) -> str:
    """One sentence that states kind, channel, direction and onset in words."""
    c, t0, t1, m = ex.channel, ex.onset, ex.end, ex.magnitude
    way = {"up": "up", "down": "down"}.get(ex.direction, "")
    return {
        "none": "All channels keep their usual pattern from start to end.",
        "spike": f"Channel {c} jumps {way} by about {2 * m:.1f} standard deviations at step {t0} and returns at once.",
        "level shift": f"Channel {c} moves {way} by about {m:.1f} standard deviations at step {t0} and stays there.",
        "trend change": f"Channel {c} starts drifting {way} at step {t0}, by about {m:.1f} standard deviations "
                        f"every {ex.length} steps.",
        "frequency change": f"Channel {c} oscillates {'faster' if way == 'up' else 'slower'} from step {t0} to "
                            f"step {t1}.",
        "variance change": f"Channel {c} becomes {'noisier' if way == 'up' else 'smoother'} from step {t0} to "
                           f"step {t1}.",
        "correlation break": f"Channel {c} stops moving with the other channels from step {t0} to step {t1}.",
    }[ex.kind]


def questions_for(ex: Example, with_rationale: bool = True) -> list[dict]:
    """One question of each type, with its label and its answer (rationale + `Answer: <label>`,
    or `Answer: <label>` alone)."""
    kinds = UNIVARIATE_KINDS if ex.series.shape[1] == 1 else KINDS
    why = rationale(ex) + " " if with_rationale else ""
    labels = {"kind_choice": ex.kind, "kind_free": ex.kind,
              "channel": "none" if ex.channel < 0 else f"channel {ex.channel}", "onset": ex.onset_bucket}
    texts = {
        "kind_choice": f"Which one describes this series: {', '.join(kinds)}?",
        "kind_free": FREE_QUESTION,
        "channel": f"Which channel is anomalous: {', '.join(f'channel {i}' for i in range(ex.series.shape[1]))}, "
                   "or none?",
        "onset": "When does the anomaly start: early, middle, late, or none?",
    }
    return [{"type": q, "question": texts[q], "label": labels[q], "answer": f"{why}Answer: {labels[q]}"}
            for q in QUESTION_TYPES]


@dataclass
class Sample:
    """One (series, question) pair with its answer and label."""
    series: np.ndarray
    qtype: str
    question: str
    answer: str
    label: str


def samples_of(examples: list[Example]) -> list[Sample]:
    return [Sample(e.series, q["type"], q["question"], q["answer"], q["label"]) for e in examples for q in e.questions]


def batches(samples: list[Sample], size: int, order: list[int] | None = None):
    """Lists of at most `size` samples, in `order` (default: as they are)."""
    idx = order if order is not None else list(range(len(samples)))
    for i in range(0, len(idx), size):
        yield [samples[j] for j in idx[i:i + size]]


def series_order(samples: list[Sample], seed: int) -> list[int]:
    """Sample indices: the series in a random order, each series' questions together in their
    own order. Batches then hold whole examples, whose questions share one pass over the series."""
    groups: dict[int, list[int]] = {}
    for i, s in enumerate(samples):
        groups.setdefault(id(s.series), []).append(i)
    members = list(groups.values())
    return [i for g in np.random.default_rng(seed).permutation(len(members)) for i in members[g]]


def label_sets(n_channels: int) -> dict[str, list[str]]:
    """The labels each question type can have."""
    kinds = list(KINDS if n_channels >= 2 else KINDS[:-1])
    return {"kind_choice": kinds, "kind_free": kinds,
            "channel": ["none"] + [f"channel {i}" for i in range(n_channels)], "onset": ["none", *ONSET_BUCKETS]}


# ---- the generator ---------------------------------------------------------------------------------
def kinds_drawn(N: int, only: str = "") -> tuple[str, ...]:
    """The kinds a generator of `N` channels draws: `only` (comma-separated names), else every kind
    (correlation breaks only when N >= 2)."""
    every = KINDS if N >= 2 else UNIVARIATE_KINDS
    if not only:
        return every
    asked = tuple(k.strip() for k in only.split(","))
    unknown = [k for k in asked if k not in every]
    if unknown or len(set(asked)) < 2:
        raise UserError(f"--rs_kinds {only!r}: give at least two of {', '.join(every)} (for {N} channel(s))"
                        + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    return tuple(k for k in every if k in asked)


def make_examples(n: int, split: str, seed: int, T: int = 96, N: int = 3, data_root: str = "",
                  real_share: float = 0.5, only: str = "", with_rationale: bool = True) -> list[Example]:
    """`n` examples of `split`, kinds balanced (correlation breaks only when N >= 2; `only`: those
    kinds, comma-separated); a share `real_share` of the backgrounds are real windows when real
    datasets are present. The questions offer every kind whatever `only` draws; `with_rationale`
    False: the answers are the labels alone. The series do not depend on it."""
    if split not in REGIONS:
        raise UserError(f"unknown split {split!r}; known: {', '.join(REGIONS)}")
    if T < 48 or N < 1:
        raise UserError(f"series need at least 48 steps and 1 channel, got {T} x {N}")
    region = REGIONS[split]
    rng = np.random.default_rng([seed, list(REGIONS).index(split)])
    real = real_backgrounds(region.real, data_root) if data_root else {}
    kinds = kinds_drawn(N, only)
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        background, x = "synthetic", None
        if real and rng.random() < real_share:
            name = list(real)[int(rng.integers(len(real)))]
            x = window_of(real[name], rng, T, N)
            background = name if x is not None else background
        if x is None:
            x = synthetic_background(rng, T, N, region)
        x = standardised(x)
        clean = x.astype(np.float32)
        record = inject(x, kind, rng, region)
        ex = Example(x.astype(np.float32), kind, background=background, split=split, clean=clean, **record)
        ex.questions = questions_for(ex, with_rationale)
        out.append(ex)
    order = rng.permutation(n)
    return [out[i] for i in order]


def write_examples(examples: list[Example], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for ex in examples:
            f.write(json.dumps(ex.to_json()) + "\n")


def read_examples(path: Path) -> list[Example]:
    from lib.data.files import read_text
    try:
        return [Example.from_json(json.loads(line)) for line in read_text(Path(path)).splitlines() if line.strip()]
    except (ValueError, TypeError, KeyError) as exc:
        raise UserError(f"{path}: not a file of reason.py make-data ({type(exc).__name__})") from None
