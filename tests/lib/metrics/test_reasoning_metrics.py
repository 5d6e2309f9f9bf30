"""Parsing answers and the rationale rubric."""
from __future__ import annotations

import pytest

from lib.data.reasoning import make_examples
from lib.metrics.reasoning import (explanation_scores, label_scores, overlapping_segment, parse_label, rubric,
                                   rubric_scores, stated_onset)


def test_labels_are_parsed_after_the_last_answer_marker():
    assert parse_label("Channel 1 moves up. Answer: Level shift.") == "level shift"
    assert parse_label("answer: none\nmore text") == "none"
    assert parse_label("Answer: a. Answer: spike") == "spike"
    assert parse_label("no marker here") is None and parse_label("Answer:   ") is None


def test_label_scores_count_unparsed_answers_as_wrong():
    s = label_scores(["spike", None, "none", "spike"], ["spike", "spike", "none", "none"])
    assert s["accuracy"] == 0.5 and s["parse_failure"] == 0.25 and s["n"] == 4
    assert s["macro_f1"] == pytest.approx((1 / 2 + 2 / 3) / 2)   # spike: P = R = 1/2; none: P 1, R 1/2
    assert list(s["said"].items()) == [("spike", 2), ("<unparsed>", 1), ("none", 1)]   # the most said first


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


def test_an_alarm_is_matched_to_the_segment_it_overlaps_most():
    segs = [(10, 20, [0]), (30, 40, [1])]
    assert overlapping_segment(18, 33, segs) == 1 and overlapping_segment(12, 25, segs) == 0
    assert overlapping_segment(20, 29, segs) is None and overlapping_segment(5, 9, []) is None


def test_explanation_scores_check_kind_and_named_channel_against_the_segment():
    segs, kinds, names = [(10, 20, [0]), (30, 40, [1, 2]), (50, 60, [0])], ["spike", "level shift", ""], list("abc")
    said = lambda kind, feature: {"kind": kind, "feature": feature}
    alarms = [{"start": 12, "end": 14, "top_features": ["a", "b"], "words": said("spike", "a")},
              {"start": 31, "end": 35, "top_features": ["a", "c"], "words": said("spike", "a")},
              {"start": 55, "end": 58, "top_features": ["c", "a"], "words": said(None, None)},
              {"start": 80, "end": 82, "top_features": ["a", "b"], "words": said("none", "a")},
              {"start": 90, "end": 92, "top_features": ["a", "b"], "words": said("spike", "b")}]
    s = explanation_scores(alarms, segs, kinds, names)
    assert (s["alarms"], s["on_anomaly"]) == (5, 3)
    assert s["kind_accuracy"] == 0.5   # the third segment's kind has no word: left out
    assert s["by_kind"]["level shift"] == {"n": 1, "accuracy": 0.0, "said": {"spike": 1}}
    assert s["named_hit"] == pytest.approx(1 / 3)   # a, then a (not b or c), then nothing named
    assert s["top1_hit"] == pytest.approx(1 / 3) and s["topk_contains"] == 1.0
    assert s["false_alarms_said_none"] == 0.5
