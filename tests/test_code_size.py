"""A newcomer reads the package in an hour: no module of fersyn/ over 450 lines, no function over 80."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fersyn"


def test_no_module_over_450_lines_and_no_function_over_80():
    long_modules, long_functions = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        name = path.relative_to(PACKAGE.parent)
        if text.count("\n") > 450:
            long_modules.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80:
                long_functions.append(f"{name}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert long_modules == [] and long_functions == []
