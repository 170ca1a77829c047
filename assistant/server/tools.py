"""Tool calls in the chat APIs: OpenAI's ``tools`` and ``tool_choice``, Ollama's ``tools``.

A call is JSON held to a grammar (``llm/toolcall.py``): the name is one of the tools (or the one
named by ``tool_choice``) and the arguments follow that tool's ``parameters`` schema.
``none`` (or no tools) leaves replies free. One call per reply (as
``parallel_tool_calls: false``).

The tools reach the model as a system message that lists them and says how to call one
(the default SmolLM2's template has no tool syntax; a template's own tool syntax is not used
yet). Earlier calls and their results go into the prompt as plain messages: an assistant
message with ``tool_calls`` becomes its call's JSON, a ``tool`` message a user message saying
"Result of NAME: ...".
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from assistant.errors import InputError
from assistant.llm.errors import ConfigurationError
from assistant.llm.grammar import Grammar
from assistant.llm.toolcall import ToolSpec, ToolUse, read_call, result_text
from assistant.types import ChatMessage

__all__ = ["ToolUse", "parse_call", "prompt_messages", "tool_use"]


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


def _tool(index: int, entry: Any) -> ToolSpec:
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
    return ToolSpec(name, str(function.get("description") or ""), parameters)


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
    call = read_call(text)  # None too for a call cut short by max_tokens: nobody can run it
    if call is None:
        return None
    return {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
    }


def prompt_messages(messages: list[Any], use: ToolUse | None) -> list[ChatMessage]:
    """The conversation as plain chat messages, for a template without tool syntax."""
    out: list[ChatMessage] = []
    names: dict[str, str] = {}  # tool_call_id -> the tool's name
    for index, m in enumerate(messages):
        calls = getattr(m, "tool_calls", None) or []
        if m.role == "assistant" and calls:
            out.append(ChatMessage("assistant", _call_text(index, calls[0])))
            names.update({c.get("id", ""): c.get("function", {}).get("name", "") for c in calls})
        elif m.role == "tool":
            ident = getattr(m, "tool_call_id", None)
            if not isinstance(ident, str):
                raise InputError(f"messages[{index}].tool_call_id: a tool message answers a call")
            out.append(ChatMessage("user", result_text(names.get(ident, "the tool"), m.text())))
        else:
            out.append(ChatMessage(m.role, m.text()))
    if use is not None and out and out[0].role == "system":
        out[0] = ChatMessage("system", f"{out[0].content}\n\n{use.system_prompt()}")
    elif use is not None:
        out.insert(0, ChatMessage("system", use.system_prompt()))
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


def relayed_tools(req: Any) -> dict[str, Any]:
    """A chat request with tools as an OpenAI-compatible server takes it.

    The messages go as they came (calls, results and their ids), with Ollama's shapes made
    OpenAI's: a call's ``arguments`` object becomes JSON text, and a tool message without
    ``tool_call_id`` answers the call before it. One call per reply, as here.
    """
    messages, last_call = [], ""
    for message in req.messages:
        entry = message.model_dump(exclude_none=True, exclude={"images"})
        calls = entry.get("tool_calls") or []
        for index, call in enumerate(calls):
            function = call.get("function", {}) if isinstance(call, dict) else {}
            if not isinstance(function.get("arguments", ""), str):
                function["arguments"] = json.dumps(function["arguments"])
            call.setdefault("id", f"call_{index}_{uuid.uuid4().hex[:12]}")
            call.setdefault("type", "function")
            last_call = call["id"]
        if entry["role"] == "tool":
            entry.setdefault("tool_call_id", last_call)
        messages.append(entry)
    choice = req.tool_choice if req.tool_choice is not None else "auto"
    return {
        "messages": messages,
        "tools": req.tools,
        "tool_choice": choice,
        "parallel_tool_calls": False,
    }
