"""Reasoning over series: tasks about injected anomalies, and the models that answer them.

    python reason.py make-data --rs_data expe/reasoning_data --seed 1 --data_root ../shared/datasets

`make-data` writes train.jsonl, test.jsonl and heldout.jsonl under --rs_data: one series
with at most one injected anomaly per line, its record (kind, channel, onset, end,
direction, magnitude, background) and four questions with templated answers
(lib/data/reasoning.py). Same seed, same files.
"""
from __future__ import annotations

import collections
import sys
from pathlib import Path

from lib.config import Config, config_from_cli
from lib.data.reasoning import REGIONS, make_examples, write_examples
from lib.errors import UserError, cli_main
from lib.runfiles import check_writable

COMMANDS = ("make-data",)


def make_data(cfg: Config) -> None:
    out = Path(cfg.rs_data)
    check_writable((out,))
    root = cfg.resolved_data_root() if cfg.data_root else ""
    for split in REGIONS:
        n = cfg.rs_n_train if split == "train" else cfg.rs_n_eval
        examples = make_examples(n, split, cfg.seed, cfg.rs_length, cfg.rs_channels, root, cfg.rs_real_share)
        write_examples(examples, out / f"{split}.jsonl")
        backgrounds = collections.Counter(e.background for e in examples)
        print(f"{split:8s}: {n} series of {cfg.rs_length} x {cfg.rs_channels}, backgrounds "
              + ", ".join(f"{k} {v}" for k, v in sorted(backgrounds.items())) + f" -> {out / (split + '.jsonl')}")


@cli_main
def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        raise UserError(f"usage: python reason.py {{{'|'.join(COMMANDS)}}} [flags]; see --help after a command")
    command = sys.argv[1]
    cfg = config_from_cli(f"reason.py {command}: " + __doc__.splitlines()[0], argv=sys.argv[2:])
    if cfg.rs_length < 48 or cfg.rs_channels < 1 or min(cfg.rs_n_train, cfg.rs_n_eval) < 1:
        raise UserError("--rs_length must be >= 48, --rs_channels, --rs_n_train and --rs_n_eval >= 1")
    make_data(cfg)


if __name__ == "__main__":
    main()
