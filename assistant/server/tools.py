"""Tool calls in the chat APIs: OpenAI's ``tools`` and ``tool_choice``, Ollama's ``tools``.

A call is JSON held to a grammar: ``{"name": ..., "arguments": {...}}`` where the name is one of
the tools (or the one named by ``tool_choice``) and the arguments follow that tool's
``parameters`` schema, so a call always parses and validates. ``required`` and a named choice
constrain the whole reply to a call; ``auto`` lets the model answer in words or call, and a
reply that opens with ``{`` is held to the call grammar from there. ``none`` (or no tools)
leaves replies free. One call per reply (as ``parallel_tool_calls: false``).

The tools reach the model as a system message that lists them and says how to call one
(the default SmolLM2's template has no tool syntax; a template's own tool syntax is not used
yet). Earlier calls and their results go into the prompt as plain messages: an assistant
message with ``tool_calls`` becomes its call's JSON, a ``tool`` message a user message saying
"Result of NAME: ...".
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from assistant.errors import InputError
from assistant.llm.errors import ConfigurationError
from assistant.llm.grammar import Grammar


@dataclass(frozen=True)
class Tool:
    """A function the model may call."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolUse:
    """The tools of one request and how the model may use them."""

    tools: list[Tool]
    choice: str  # auto | required | a tool's name

    def grammar(self) -> Grammar:
        """Output held to a call (``auto``: a call or words not opening with ``{``)."""
        allowed = [t for t in self.tools if self.choice in ("auto", "required", t.name)]
        calls = [
            {
                "type": "object",
                "properties": {"name": {"const": t.name}, "arguments": t.parameters},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
            for t in allowed
        ]
        call = Grammar.from_json_schema(calls[0] if len(calls) == 1 else {"oneOf": calls})
        if self.choice != "auto":
            return call
        # either the call, or words whose first character is not "{"
        words = "\nroot ::= call | words\nwords ::= [^{ \\t\\n] [^\\x00]*\n"
        return Grammar(call.gbnf.replace("root ::=", "call ::=", 1) + words)

    def system_prompt(self) -> str:
        """How the tools are described to a model whose template has no tool syntax."""
        listed = "\n".join(
            f"- {t.name}: {t.description or 'no description'}; arguments (JSON schema): "
            f"{json.dumps(t.parameters)}"
            for t in self.tools
        )
        how = 'To call a tool, reply with only {"name": TOOL, "arguments": {...}}.'
        if self.choice == "auto":
            how += " Otherwise answer in words."
        return f"You can call these tools:\n{listed}\n{how}"


def tool_use(tools: list[dict[str, Any]] | None, choice: Any) -> ToolUse | None:
    """The request's tools, checked; None when replies are free. InputError naming the field."""
    if not tools:
        if choice not in (None, "none", "auto"):
            raise InputError("tool_choice: there are no tools to choose from")
        return None
    parsed = [_tool(i, t) for i, t in enumerate(tools)]
    names = [t.name for t in parsed]
    if len(set(names)) != len(names):
        raise InputError("tools: two tools have the same name")
    wanted = _choice(choice, names)
    return None if wanted == "none" else ToolUse(parsed, wanted)


def _tool(index: int, entry: Any) -> Tool:
    where = f"tools[{index}]"
    function = entry.get("function", entry) if isinstance(entry, dict) else None
    if not isinstance(function, dict) or entry.get("type", "function") != "function":
        raise InputError(f"{where}: a tool is {{'type': 'function', 'function': {{...}}}}")
    name = function.get("name")
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        raise InputError(f"{where}.function.name: letters, digits, _ and - only")
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    if not isinstance(parameters, dict):
        raise InputError(f"{where}.function.parameters: a JSON schema (an object)")
    try:
        Grammar.from_json_schema(parameters)
    except ConfigurationError as exc:
        raise InputError(f"{where}.function.parameters: {exc}") from None
    return Tool(name, str(function.get("description") or ""), parameters)


def _choice(choice: Any, names: list[str]) -> str:
    if choice is None:
        return "auto"
    if choice in ("auto", "none", "required"):
        return str(choice)
    named = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    if named not in names:
        raise InputError(f"tool_choice: {named or choice!r} is not one of the tools {names}")
    return str(named)


def parse_call(text: str) -> dict[str, Any] | None:
    """The OpenAI ``tool_calls`` entry for a reply that is a call; None for words."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        call = json.loads(text)
    except ValueError:  # cut short by max_tokens: not a call anyone can run
        return None
    arguments = json.dumps(call.get("arguments", {}))
    return {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": call.get("name", ""), "arguments": arguments},
    }


def prompt_messages(messages: list[Any], use: ToolUse | None) -> list[tuple[str, str]]:
    """The conversation as (role, text) for a template without tool syntax."""
    out: list[tuple[str, str]] = []
    names: dict[str, str] = {}  # tool_call_id -> the tool's name
    for index, m in enumerate(messages):
        calls = getattr(m, "tool_calls", None) or []
        if m.role == "assistant" and calls:
            out.append(("assistant", _call_text(index, calls[0])))
            names.update({c.get("id", ""): c.get("function", {}).get("name", "") for c in calls})
        elif m.role == "tool":
            ident = getattr(m, "tool_call_id", None)
            if not isinstance(ident, str):
                raise InputError(f"messages[{index}].tool_call_id: a tool message answers a call")
            out.append(("user", f"Result of {names.get(ident, 'the tool')}: {m.text()}"))
        else:
            out.append((m.role, m.text()))
    if use is not None and out and out[0][0] == "system":
        out[0] = ("system", f"{out[0][1]}\n\n{use.system_prompt()}")
    elif use is not None:
        out.insert(0, ("system", use.system_prompt()))
    return out


def _call_text(index: int, call: Any) -> str:
    """An earlier call as the model would have written it."""
    function = call.get("function") if isinstance(call, dict) else None
    try:
        assert isinstance(function, dict) and isinstance(function.get("name"), str)
        arguments = json.loads(function.get("arguments") or "{}")
    except (AssertionError, ValueError):
        raise InputError(
            f"messages[{index}].tool_calls: each is {{'function': {{'name', 'arguments': JSON}}}}"
        ) from None
    return json.dumps({"name": function["name"], "arguments": arguments})
