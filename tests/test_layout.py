"""The house rules of ../README.md "How the code is organised", checked: each stage
imports only the stages below it, the environment is read in one place, and modules
and functions stay small enough to read."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "streams"
# Lower first; a module may import its own package and those of a lower rank.
STAGES = {"collector": 0, "config": 0, "errors": 0, "formats": 0, "paths": 0, "rules": 1, "store": 2, "broker": 2, "ingest": 3,
          "reporting": 4, "worker": 5, "demo": 6, "cli": 7}  # fmt: skip
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def stage(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported_stages(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("streams."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "streams":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("streams."))
    return found


def test_every_module_belongs_to_a_stage():
    assert {stage(p) for p in modules()} - {"__init__"} <= set(STAGES)


def test_no_stage_imports_a_higher_one():
    wrong = []
    for path in modules():
        own = stage(path)
        if own == "__init__":
            continue
        for other in imported_stages(ast.parse(path.read_text())):
            if other != own and STAGES[other] >= STAGES[own]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports streams.{other}")
    assert wrong == []


def test_the_environment_is_read_only_in_config():
    readers = [
        str(p.relative_to(PACKAGE))
        for p in modules()
        if p.name != "config.py" and ("os.environ" in p.read_text() or "getenv(" in p.read_text())
    ]
    assert readers == []


def test_modules_and_functions_stay_small():
    long_modules = [
        f"{p.relative_to(PACKAGE)}: {n}" for p in modules() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    long_functions = []
    for path in modules():
        name = str(path.relative_to(PACKAGE))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}:{node.lineno} {node.name}: {length}")
    assert long_modules == [] and long_functions == []


def test_test_only_code_is_not_in_the_package():
    assert not (PACKAGE / "badinput.py").exists()
    assert "def send_raw" not in "".join(p.read_text() for p in modules())
