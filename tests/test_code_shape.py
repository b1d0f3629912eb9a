"""The shape the code keeps as it grows: short functions, and a grader that loads no framework until it trains.

The walls between the stages are import-linter contracts (pyproject.toml, `make lint`); these are the rules a
static import graph cannot see.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

GRADER = Path(__file__).resolve().parent.parent / "grader"
MAX_FUNCTION_LINES = 50
# A function may be longer when a comment right above its definition says why, starting with this.
LONG_REASON = "# long:"


def long_functions(source: str, max_lines: int = MAX_FUNCTION_LINES) -> list[tuple[str, int]]:
    """The functions of a module over `max_lines` lines (decorators excluded) with no stated reason."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        length = node.end_lineno - node.lineno + 1
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        above = lines[first - 2].strip() if first >= 2 else ""
        if length > max_lines and not above.startswith(LONG_REASON):
            found.append((node.name, length))
    return found


def test_a_long_function_is_found_unless_a_comment_above_it_says_why() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(55))
    assert long_functions(f"def f():\n{body}\n") == [("f", 56)]
    assert long_functions(f"# long: one table of cases, read top to bottom\ndef f():\n{body}\n") == []
    assert long_functions(f"@decorated\ndef f():\n{body}\n") == [("f", 56)]
    assert long_functions("def short():\n    return 1\n") == []


def test_no_function_in_the_grader_is_over_50_lines_without_a_reason() -> None:
    offenders = [
        f"{path.relative_to(GRADER.parent)}: {name} ({length} lines)"
        for path in sorted(GRADER.rglob("*.py"))
        for name, length in long_functions(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], f"split these by meaning, or say why above them with {LONG_REASON!r}"


# The modules whose job is to drive a framework: they are imported only in the worker, when a model trains.
FRAMEWORK_MODULES = {"grader.adapters.torch_adapter", "grader.adapters.keras_adapter"}
FRAMEWORKS = ("torch", "tensorflow", "keras", "jax")


def grader_modules() -> list[str]:
    modules = []
    for path in sorted(GRADER.rglob("*.py")):
        parts = path.relative_to(GRADER.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name not in FRAMEWORK_MODULES and parts[-1] != "__main__":
            modules.append(name)
    return modules


def test_importing_the_grader_loads_no_framework() -> None:
    """`grade --help`, the scorer and the renderers start fast, and run where no framework is installed."""
    probe = (
        "import importlib, json, sys\n"
        f"for module in {grader_modules()!r}:\n"
        "    importlib.import_module(module)\n"
        f"    loaded = sorted(m for m in {FRAMEWORKS!r} if m in sys.modules)\n"
        "    if loaded:\n"
        "        print(json.dumps([module, loaded]))\n"
        "        break\n"
        "else:\n"
        "    print(json.dumps(None))\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    culprit = json.loads(completed.stdout.splitlines()[-1])
    assert culprit is None, f"importing {culprit[0]} loads {', '.join(culprit[1])}: import it where it is used"
