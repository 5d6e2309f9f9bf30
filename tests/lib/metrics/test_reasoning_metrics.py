"""Parsing answers and the rationale rubric."""
from __future__ import annotations

import pytest

from lib.data.reasoning import make_examples
from lib.metrics.reasoning import label_scores, parse_label, rubric, rubric_scores, stated_onset


def test_labels_are_parsed_after_the_last_answer_marker():
    assert parse_label("Channel 1 moves up. Answer: Level shift.") == "level shift"
    assert parse_label("answer: none\nmore text") == "none"
    assert parse_label("Answer: a. Answer: spike") == "spike"
    assert parse_label("no marker here") is None and parse_label("Answer:   ") is None


def test_label_scores_count_unparsed_answers_as_wrong():
    s = label_scores(["spike", None, "none", "spike"], ["spike", "spike", "none", "none"])
    assert s["accuracy"] == 0.5 and s["parse_failure"] == 0.25 and s["n"] == 4
    assert s["macro_f1"] == pytest.approx((1 / 2 + 2 / 3) / 2)   # spike: P = R = 1/2; none: P 1, R 1/2


def test_the_generators_own_answers_pass_every_rubric_check_and_a_wrong_one_fails():
    for e in make_examples(21, "test", seed=4):
        why = e.questions[1]["answer"]
        assert all(rubric(why, e.kind, e.channel, e.direction, e.onset).values()), why
        if e.kind != "none":
            assert stated_onset(why) == e.onset
            wrong = rubric(why.replace(f"Channel {e.channel} ", f"Channel {e.channel + 1} "), e.kind, e.channel,
                           e.direction, e.onset + 20)
            assert not wrong["channel"] and not wrong["onset"]
    checks = [{"kind": True, "channel": False}, {"kind": True}]
    assert rubric_scores(checks) == {"kind": 1.0, "channel": 0.0, "all": 0.5}
