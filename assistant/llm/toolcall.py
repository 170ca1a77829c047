"""Tool calls as a model writes them: a JSON object held to a grammar.

A call is ``{"name": ..., "arguments": {...}}`` where the name is one of the tools (or the one
chosen) and the arguments follow that tool's ``parameters`` schema, so a call always parses
and validates. ``required`` and a named choice constrain the whole reply to a call; ``auto``
lets the model answer in words or call, and a reply that opens with ``{`` is held to the call
grammar from there. Used by the chat APIs (``server/tools.py``) and by the voice loop
(``tools/policy.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from assistant.llm.grammar import Grammar


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolUse:
    """The tools of one request and how the model may use them."""

    tools: list[ToolSpec]
    choice: str  # auto | required | a tool's name

    def grammar(self) -> Grammar:
        """Output held to a call (``auto``: a call or words not opening with ``{``)."""
        call = Grammar.from_json_schema(self.call_schema())
        if self.choice != "auto":
            return call
        # either the call, or words whose first character is not "{"
        words = "\nroot ::= call | words\nwords ::= [^{ \\t\\n] [^\\x00]*\n"
        return Grammar(call.gbnf.replace("root ::=", "call ::=", 1) + words)

    def call_schema(self) -> dict[str, Any]:
        """The JSON schema of a call to one of the allowed tools."""
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
        return calls[0] if len(calls) == 1 else {"oneOf": calls}

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


@dataclass(frozen=True)
class Call:
    """A call the model wrote: the tool's name and its arguments."""

    name: str
    arguments: dict[str, Any]


def read_call(text: str) -> Call | None:
    """The call ``text`` holds; None for words (or a call cut short by the token limit)."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        call = json.loads(text)
    except ValueError:
        return None
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return None
    arguments = call.get("arguments")
    return Call(call["name"], arguments if isinstance(arguments, dict) else {})


def call_text(call: Call) -> str:
    """A call as the model writes it (for the history)."""
    return json.dumps({"name": call.name, "arguments": call.arguments})


def result_text(name: str, result: str) -> str:
    """A tool's result as the model reads it, for a template without a tool role."""
    return f"Result of {name}: {result}"
