"""Unit conversions with pint.

Its registry knows the units and their spoken names (miles, kilometres, pounds,
fahrenheit...) and converts offset scales such as temperatures correctly. pint parses unit
names itself; nothing is evaluated as code.
"""

from __future__ import annotations

import functools
from typing import Any

from assistant.llm.toolcall import ToolSpec
from assistant.tools.calculator import spoken_number
from assistant.tools.toolbox import Tool, ToolError


@functools.cache
def _registry() -> Any:
    import pint

    return pint.UnitRegistry()


def unit_name(spoken: str) -> str:
    """The unit name pint knows for a spoken one ("degrees Celsius" -> "celsius")."""
    words = spoken.strip().lower().split()
    if len(words) > 1 and words[0] in ("degree", "degrees"):
        words = words[1:]
    return "_".join(words)


def convert(value: float, source: str, target: str) -> float:
    """``value`` in ``source`` units, expressed in ``target`` units (ToolError when it can't be)."""
    import pint

    registry = _registry()
    try:
        quantity = registry.Quantity(value, unit_name(source))
        return float(quantity.to(unit_name(target)).magnitude)
    except pint.errors.UndefinedUnitError as exc:
        raise ToolError(f"unknown unit {exc.unit_names}") from None
    except pint.errors.DimensionalityError:
        raise ToolError(f"{source} cannot be converted to {target}") from None
    except (pint.errors.PintError, ValueError, AttributeError, TypeError) as exc:
        raise ToolError(f"{source} to {target}: {exc}") from None


def units_tool() -> Tool:
    """``convert_units``: a quantity in other units."""

    async def run(arguments: dict[str, Any]) -> str:
        value, source, target = arguments["value"], arguments["from_unit"], arguments["to_unit"]
        result = convert(float(value), source, target)
        return f"{spoken_number(float(value))} {source} is {spoken_number(result)} {target}"

    spec = ToolSpec(
        "convert_units",
        "Convert a quantity between units: length, mass, volume, temperature, speed, time.",
        {
            "type": "object",
            "properties": {
                "value": {"type": "number"},
                "from_unit": {"type": "string", "maxLength": 40},
                "to_unit": {"type": "string", "maxLength": 40},
            },
            "required": ["value", "from_unit", "to_unit"],
            "additionalProperties": False,
        },
    )
    return Tool(spec, run)


def known_unit(spoken: str) -> bool:
    """Whether pint knows ``spoken`` as a unit."""
    try:
        _registry().Unit(unit_name(spoken))
    except Exception:  # pint raises several kinds for a name that is not a unit
        return False
    return True
