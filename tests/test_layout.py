"""The folders show the flow: data -> model -> train -> score -> metrics -> outputs, and no
import runs back up it. Checked on the source text (ast), so a lazy import inside a function
counts too."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

SHARED = ("lib.config", "lib.errors", "lib.hardware", "lib.utils", "lib.runfiles")
# package -> what its modules may import from this repository
ALLOWED = {
    "lib.metrics": ("lib.metrics", "lib.errors"),   # pure: scores and labels in, numbers out
    "lib.data": (*SHARED, "lib.data"),
    "lib.train": (*SHARED, "lib.data", "lib.train"),
    "lib.score": (*SHARED, "lib.data", "lib.score", "lib.metrics"),
    "lib.outputs": (*SHARED, "lib.metrics", "lib.outputs"),
    "lib": SHARED,                                   # the shared modules at lib/'s top
    "model": (*SHARED, "lib.data", "model"),
}
OURS = ("lib", "model", "run", "test", "impute", "scripts", "tests")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str:
    """The most specific key of ALLOWED that `module` lies in."""
    return max((k for k in ALLOWED if module == k or module.startswith(k + ".")), key=len)


def imports_of(path: Path) -> set[str]:
    """Every module of this repository that `path` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {m for m in found if m.split(".")[0] in OURS}


SOURCES = sorted(p for folder in ("lib", "model") for p in (REPO / folder).rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_import_runs_back_up_the_flow(path):
    allowed = ALLOWED[package_of(module_name(path))]
    wrong = sorted(m for m in imports_of(path) if not any(m == a or m.startswith(a + ".") for a in allowed))
    assert not wrong, f"{path.relative_to(REPO)} imports {wrong}; its folder may import only {allowed}"


def test_the_check_sees_a_wrong_arrow(tmp_path):
    wrong = tmp_path / "x.py"
    wrong.write_text("def f():\n    from lib.train.trainer import Trainer\n")
    assert imports_of(wrong) == {"lib.train.trainer"}
    assert not any("lib.train.trainer".startswith(a) for a in ALLOWED["lib.score"])
