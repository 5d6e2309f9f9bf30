"""The printed results table."""
from __future__ import annotations

import re

from lib.outputs.report import format_table


def test_group_titles_span_their_columns():
    groups = (("", (("model", "{}"),)), ("STAMP protocol", (("f1", "{:.2f}"), ("recall", "{:.2f}"))),
              ("label-free", (("pot_f1", "{:.2f}"),)))
    titles, head, rule, row = format_table([{"model": "gat_ae", "f1": 0.5, "recall": float("nan")}],
                                           groups).split("\n")
    columns = [m.span() for m in re.finditer("-+", rule)]            # each column's extent
    assert titles[columns[1][0]:columns[2][1]].strip("-") == "STAMP protocol"
    assert titles[columns[3][0]:].strip("-") == "label-free"
    assert titles[:columns[0][1] + 2].isspace() and len(titles) == len(rule)
    assert head.split() == ["model", "f1", "recall", "pot_f1"]
    assert row.split() == ["gat_ae", "0.50", "-", "-"]               # NaN and missing cells print as '-'
