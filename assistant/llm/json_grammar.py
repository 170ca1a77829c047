"""JSON as GBNF: any JSON object, or JSON valid against a schema, with bounded whitespace.

Schemas go through llama-cpp-python's converter (the Python port of llama.cpp's), with three
changes: integer bounds become grammar (``int_range``), as in llama.cpp's C++ converter;
strings hold no raw control characters, which JSON forbids; and whitespace between tokens is
the bounded run of llama.cpp's ``grammars/json.gbnf`` everywhere, so a model can neither pad
its output without end nor be kept from the line breaks it was trained to write. A keyword
the grammar cannot hold is refused by name (ValueError) rather than silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llama_cpp.llama_grammar import RESERVED_NAMES, SchemaConverter

from assistant.llm.int_range import integer_bounds, integer_range

# llama.cpp's grammars/json.gbnf: nothing, one space, or a line break and up to 20 blanks
SPACE = '| " " | "\\n" [ \\t]{0,20}'

JSON_OBJECT = (
    r"""root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws
object ::= "{" ws ( string ":" ws value ( "," ws string ":" ws value )* )? "}" ws
array  ::= "[" ws ( value ( "," ws value )* )? "]" ws
string ::= "\"" ( [^"\\\x7F\x00-\x1F] | "\\" ( ["\\bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\"" ws
number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws
ws     ::= """
    + SPACE
)  # llama.cpp's grammars/json.gbnf, as llama.cpp's server uses it


def schema_gbnf(schema: Any) -> str:
    """GBNF for JSON valid against ``schema`` (ValueError, AssertionError... if it cannot be)."""
    refuse_unheld(schema)
    converter = _Converter()
    converter.visit(converter.resolve_refs(schema, "input"), "")
    return _strict_strings(str(SchemaConverter.format_grammar(converter)))


class _Converter(SchemaConverter):
    """The converter, with integer bounds held as llama.cpp's own C++ converter holds them.

    Its methods are called through the base class: they are not annotated.
    """

    def __init__(self) -> None:
        base = SchemaConverter
        base.__init__(self, prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
        self._rules["space"] = SPACE

    def visit(self, schema: dict[str, Any], name: str) -> str:
        """The rule for ``schema``: its integer range when it bounds an integer."""
        base, bounds = SchemaConverter, integer_bounds(schema)
        kinds = schema.get("type")
        if _takes_precedence(schema):
            if isinstance(kinds, list):  # the base would read the types first, dropping these
                schema = {k: v for k, v in schema.items() if k != "type"}
            return str(base.visit(self, schema, name))
        rule_name = name + "-" if name in RESERVED_NAMES else name or "root"
        if isinstance(kinds, list):
            # Each type keeps the schema's other keywords (a null ignores them): the base
            # converter would keep the bare types only, dropping lengths, properties, bounds.
            alternatives = [{**schema, "type": kind} for kind in kinds]
            rule = base._generate_union_rule(self, name, alternatives)
        elif kinds == "integer" and bounds is not None:
            rule = f"({integer_range(*bounds)}) space"
        else:
            return str(base.visit(self, schema, name))
        return str(base._add_rule(self, rule_name, rule))


def _takes_precedence(schema: dict[str, Any]) -> bool:
    """Whether the converter reads ``schema`` by a keyword that comes before its type."""
    return any(k in schema for k in ("$ref", "oneOf", "anyOf", "const", "enum"))


_CHAR = 'char ::= [^"\\\\]'  # the converter's string character: any but " and \\


def _strict_strings(gbnf: str) -> str:
    """``gbnf`` with no raw control characters inside strings.

    The converter lets them in, which JSON forbids: a model writes a newline there and the
    output no longer parses. llama.cpp's own JSON grammar keeps them out the same way.
    """
    return gbnf.replace(_CHAR, 'char ::= [^"\\\\\\x7F\\x00-\\x1F]')


# Keywords the converter reads past: output would break them. Held ones (integer bounds,
# string lengths, item counts, enum, const, pattern, date/time/uuid formats) are not here.
_UNHELD = (
    "multipleOf",
    "minProperties",
    "maxProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "minContains",
    "maxContains",
    "dependentRequired",
    "dependentSchemas",
    "dependencies",
    "patternProperties",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
)
_NUMBER_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def refuse_unheld(schema: Any) -> None:
    """ValueError naming the first keyword of ``schema`` that the grammar would not hold."""
    for part in _subschemas(schema):
        found = [k for k in _UNHELD if k in part]
        if part.get("uniqueItems") is True:
            found.append("uniqueItems")
        kinds = part.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if any(k in part for k in _NUMBER_BOUNDS) and not set(kinds) <= {"integer", "null"}:
            found += [k for k in _NUMBER_BOUNDS if k in part]
            raise ValueError(
                f"{', '.join(found)} on a number cannot be held by the grammar (on an integer "
                "they are); use type integer, or drop it and check the value after generation"
            )
        if ("pattern" in part or "format" in part) and ("minLength" in part or "maxLength" in part):
            found.append(
                f"minLength/maxLength beside {'pattern' if 'pattern' in part else 'format'}"
            )
        if isinstance(part.get("oneOf"), list) and not _disjoint(part["oneOf"]):
            found.append("oneOf (use anyOf, or tell the branches apart by a const property)")
        if found:
            raise ValueError(
                f"{', '.join(found)} cannot be held by the grammar; drop it and check the "
                "value after generation"
            )
        integer_bounds(part)  # a bound that is not a number is named here


_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_ONE = (
    "items",
    "additionalProperties",
    "additionalItems",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
)


def _disjoint(branches: list[Any]) -> bool:
    """Whether no value can match two ``oneOf`` branches: objects told apart by a const.

    The grammar holds ``oneOf`` as ``anyOf``; that is exact only when the branches exclude
    each other, as Pydantic's tagged unions do (one property with a different ``const`` or
    single ``enum`` in each branch, and required).
    """
    if len(branches) < 2:
        return True
    tags: list[dict[str, Any]] = []
    for branch in branches:
        props = branch.get("properties", {}) if isinstance(branch, dict) else {}
        required = set(branch.get("required", [])) if isinstance(branch, dict) else set()
        tags.append({k: _tag(v) for k, v in props.items() if k in required and _tag(v) is not _NO})
    shared = set.intersection(*(set(t) for t in tags))
    return any(len({repr(t[k]) for t in tags}) == len(tags) for k in shared)


_NO = object()  # a schema that allows more than one value


def _tag(schema: Any) -> Any:
    """The one value ``schema`` allows (const, or an enum of one), else ``_NO``."""
    if not isinstance(schema, dict):
        return _NO
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    return enum[0] if isinstance(enum, list) and len(enum) == 1 else _NO


def _subschemas(schema: Any) -> Iterator[dict[str, Any]]:
    """``schema`` and every schema inside it (property names are names, not keywords)."""
    if not isinstance(schema, dict):
        return
    yield schema
    for key in _SCHEMA_MAPS:
        if isinstance(inner := schema.get(key), dict):
            for value in inner.values():
                yield from _subschemas(value)
    for key in _SCHEMA_LISTS:
        if isinstance(inner := schema.get(key), list):
            for value in inner:
                yield from _subschemas(value)
    for key in _SCHEMA_ONE:
        inner = schema.get(key)
        for value in inner if isinstance(inner, list) else [inner]:  # items: a list in draft 4
            yield from _subschemas(value)
