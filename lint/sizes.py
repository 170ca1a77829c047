"""The size budget of the package: a module, a class or a function over it fails ``make lint``.

A module is at most 300 lines, a class at most 150 and a function (or method) at most 50. A
definition's size runs from its ``def`` or ``class`` line to its last line, so its docstring and
comments count and its decorators do not. The seed API's ``Model`` and ``Context`` classes are
exempt by name (their methods are not): they are the library's public face, one class each.

Usage: ``python lint/sizes.py [PATH ...]`` (default: ``assistant``). Exit status 1 lists every
definition over its budget, one line each, with the budget it breaks.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MODULE_LINES = 300
CLASS_LINES = 150
FUNCTION_LINES = 50
EXEMPT = {("assistant/llm/model.py", "Model"), ("assistant/llm/context.py", "Context")}


def definitions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]:
    """Every class and function in ``tree``, nested ones included."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node


def exempt(shown: str, name: str) -> bool:
    """Whether the definition ``name`` in the module shown as ``shown`` is exempt by name."""
    return any(shown.endswith(module) and name == cls for module, cls in EXEMPT)


def over_budget(path: Path, shown: str) -> list[str]:
    """One line per definition of the module at ``path`` that is over its budget."""
    source = path.read_text(encoding="utf-8")
    found = []
    lines = len(source.splitlines())
    if lines > MODULE_LINES:
        found.append(f"{shown}: module is {lines} lines (budget {MODULE_LINES})")
    for node in definitions(ast.parse(source, filename=shown)):
        size = (node.end_lineno or node.lineno) - node.lineno + 1
        is_class = isinstance(node, ast.ClassDef)
        budget = CLASS_LINES if is_class else FUNCTION_LINES
        if size > budget and not exempt(shown, node.name):
            kind = "class" if is_class else "function"
            found.append(
                f"{shown}:{node.lineno}: {kind} {node.name} is {size} lines (budget {budget})"
            )
    return found


def main(argv: list[str]) -> int:
    """Check every ``.py`` file under the given paths; 1 when any is over budget."""
    found = []
    for root in [Path(p) for p in argv] or [Path("assistant")]:
        files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
        for path in files:
            found += over_budget(path, path.as_posix())
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} definition(s) over the size budget: split out a job of its own")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
