"""Arithmetic, evaluated safely.

The expression is parsed (``ast``) and only numbers and arithmetic operators are evaluated.
Names, calls, attributes and everything else are refused, so an expression cannot run code;
huge powers and results are refused too, so it cannot hang the machine.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from assistant.llm.toolcall import ToolSpec
from assistant.tools.toolbox import Tool, ToolError

_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
MAX_EXPONENT = 1000
MAX_MAGNITUDE = 1e100
MAX_LENGTH = 200


def evaluate(expression: str) -> float:
    """The value of an arithmetic expression (``^`` is a power); ToolError when it is not one."""
    text = expression.replace("^", "**").replace("×", "*").replace("÷", "/")
    if len(text) > MAX_LENGTH:
        raise ToolError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ToolError(f"{expression!r} is not arithmetic") from None
    try:
        value = _value(tree.body)
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except OverflowError:
        raise ToolError("the result is too large") from None
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise ToolError("the result is too large")
    return value


def _value(node: ast.expr) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            raise ToolError("only numbers and + - * / // % ** ( ) are allowed")
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ToolError(f"exponents above {MAX_EXPONENT} are not computed")
        result = _BINARY[type(node.op)](left, right)
        if isinstance(result, complex):
            raise ToolError("the result is not a real number")
        return float(result)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_value(node.operand))
    raise ToolError("only numbers and + - * / // % ** ( ) are allowed")


def spoken_number(value: float) -> str:
    """A number as it is best said: whole numbers without ".0", others to 6 significant digits."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def calculator_tool() -> Tool:
    """``calculate``: the value of an arithmetic expression."""

    async def run(arguments: dict[str, Any]) -> str:
        expression = arguments["expression"]
        return f"{expression} = {spoken_number(evaluate(expression))}"

    spec = ToolSpec(
        "calculate",
        "Arithmetic: the value of an expression such as 12*(3+4)/5 or 2^10.",
        {
            "type": "object",
            "properties": {"expression": {"type": "string", "maxLength": MAX_LENGTH}},
            "required": ["expression"],
            "additionalProperties": False,
        },
    )
    return Tool(spec, run)
