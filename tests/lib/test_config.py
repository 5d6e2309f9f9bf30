"""The one Config: every field declares its scope, and the flag lists are derived from it."""
from __future__ import annotations

from dataclasses import fields

import pytest

from lib.config import (CONFIG_FIELDS, RESCORABLE_SCOPES, SCOPES, Config, choices_of, rescorable_fields,
                        resumable_fields)
from lib.errors import UserError


def test_every_field_has_a_known_scope_and_a_help_text():
    for f in fields(Config):
        assert f.metadata["scope"] in SCOPES and f.metadata["help"], f.name


def test_test_py_may_change_no_learned_setting():
    learned = {n for n, f in CONFIG_FIELDS.items() if f.metadata["scope"] in ("model", "training")}
    assert not learned & rescorable_fields()
    assert {"clip_test", "test_alpha", "calib_windows", "llm_dtype", "expe_dir"} <= rescorable_fields()
    # data fields are fixed unless marked: gap filling (the robustness experiment) and the validation cap
    data = {n for n, f in CONFIG_FIELDS.items() if f.metadata["scope"] == "data"}
    assert data & rescorable_fields() == {"nan_policy", "impute", "max_val_windows"}


def test_a_resumed_run_may_change_only_its_budget_and_where_it_runs():
    assert resumable_fields() == {"epochs", "patience", "resume", "save_every_min", "data_root", "device", "threads",
                                  "eval_batch_size", "expe_dir"}
    assert resumable_fields() <= rescorable_fields() and set(RESCORABLE_SCOPES) >= {"budget", "run"}


@pytest.mark.parametrize("name", [n for n, f in CONFIG_FIELDS.items() if "choices" in f.metadata])
def test_each_declared_choice_is_enforced(name):
    for value in choices_of(name):
        Config(**{name: value}).validate() if name != "device" or value != "cuda" else None
    with pytest.raises(UserError, match=f"--{name} must be one of {'|'.join(choices_of(name))}"):
        Config(**{name: "no-such-value"}).validate()
