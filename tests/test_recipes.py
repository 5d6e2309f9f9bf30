"""Every recipe under scripts/detect/ calls run.py and test.py with flags they accept: each
script runs with a stand-in Python that parses and validates the flags instead of training."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

RECIPES = sorted((REPO / "scripts" / "detect").rglob("*.sh"))
CHECK = '''
import sys
from lib.config import Config, overrides_from_args
script, argv = sys.argv[1], sys.argv[2:]
if script == "run.py":
    from run import parse_config
    parse_config("", argv)
else:
    from test import build_parser
    Config(**overrides_from_args(build_parser().parse_args(argv))).validate()
print("checked", script)
'''


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: str(p.relative_to(REPO)))
def test_recipe_flags_parse(recipe, tmp_path):
    check = tmp_path / "check.py"
    check.write_text(CHECK)
    stand_in = tmp_path / "python"
    stand_in.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{check}" "$@"\n')
    stand_in.chmod(0o755)
    done = subprocess.run(["bash", str(recipe)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHON": str(stand_in), "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["checked", "run.py", "checked", "test.py"]


def test_there_are_recipes():
    assert len(RECIPES) >= 2
