"""Run-time helpers: the progress report off a terminal."""
from __future__ import annotations

import io
import sys

from lib.utils import progress, progress_line


def test_progress_line_projects_the_time_left_at_the_pace_so_far():
    assert progress_line("epoch 1/2", 300, 900, 600.0) == "epoch 1/2: 300/900 (33 %), 10.0 min, about 20 min left"
    assert progress_line("answering", 0, 75, 0.0) == "answering: 0/75 (0 %), 0.0 min"
    assert progress_line("epoch 1/2", 12, None, 90.0) == "epoch 1/2: 12, 1.5 min"


def test_progress_off_a_terminal_yields_every_item_and_reports_only_past_the_interval(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())   # not a terminal, even under `pytest -s`
    lines: list[str] = []
    assert list(progress(iter(range(5)), 5, "epoch 1/1", say=lines.append)) == [0, 1, 2, 3, 4]
    assert lines == []   # a loop shorter than the interval says nothing
    assert list(progress(range(3), 3, "answering", every_s=0.0, say=lines.append)) == [0, 1, 2]
    assert [m.split(",")[0] for m in lines] == ["answering: 0/3 (0 %)", "answering: 1/3 (33 %)",
                                                "answering: 2/3 (67 %)"]
