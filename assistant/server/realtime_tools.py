"""Function calling in Realtime sessions, as in OpenAI's GA protocol.

``session.tools`` (function tools: ``name``, ``description``, ``parameters``) and
``tool_choice`` (``auto``, ``none``, ``required`` or ``{"type": "function", "name"}``) become
the conversation's tools (``tools/policy.py``), every one run by the client: the model's
call is held to the tool's schema by the grammar, as on the chat endpoint, and ends the
response. It goes out as a ``function_call`` item (``response.output_item.added``,
``conversation.item.added``, ``response.function_call_arguments.delta`` and ``.done``,
``response.output_item.done``, ``conversation.item.done``) in ``response.output``. The client
answers with a ``function_call_output`` item (``conversation.item.create``) and asks for the
reply with ``response.create``. A forced choice forces the first response to the user's words,
not the one that follows a call's output (which would call again and again). With no session
tools, the server's own voice tools (``[tools]``: clock, timers, calculator...) serve spoken
turns as on ``/ws/voice``; they run here and only their answer is heard.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from assistant.errors import UserError
from assistant.llm.toolcall import Call, ToolSpec, call_text, result_text
from assistant.pipeline.events import Event, ReplyDone, ToolCalled
from assistant.server.realtime_events import Emitter, Response, new_id
from assistant.server.tools import _tool
from assistant.tools.policy import ToolPolicy
from assistant.tools.toolbox import Toolbox
from assistant.types import ChatMessage

if TYPE_CHECKING:
    from assistant.server.realtime import RealtimeSession

CHOICES = ("auto", "none", "required")


def parse_tools(value: Any) -> list[ToolSpec]:
    """The session's ``tools``, checked (each schema must make a grammar); UserError if not."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise UserError("a list of {'type': 'function', 'name', 'description', 'parameters'}")
    for index, entry in enumerate(value):
        if isinstance(entry, dict) and entry.get("type") == "mcp":
            raise UserError(f"tools[{index}]: MCP tools are not served here; function tools only")
        if not (isinstance(entry, dict) and entry.get("type", "function") == "function"
                and isinstance(entry.get("name"), str)):  # fmt: skip
            raise UserError(f"tools[{index}]: {{'type': 'function', 'name', 'parameters'}}")
    specs = [_tool(index, entry) for index, entry in enumerate(value)]
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise UserError("two tools have the same name")
    return specs


def parse_choice(value: Any) -> str:
    """``tool_choice`` as the pipeline names it: auto, none, required or a function's name."""
    if value is None:
        return "auto"
    if value in CHOICES:
        return str(value)
    name = value.get("name") if isinstance(value, dict) else None
    if not isinstance(value, dict) or value.get("type") != "function" or not isinstance(name, str):
        raise UserError("auto, none, required, or {'type': 'function', 'name': NAME}")
    return name


def check_choice(choice: str, specs: list[ToolSpec]) -> None:
    """UserError when ``choice`` forces a call the tools cannot make."""
    names = [spec.name for spec in specs]
    if choice == "required" and not names:
        raise UserError("tool_choice: 'required' needs session tools to call")
    if choice not in CHOICES and choice not in names:
        raise UserError(f"tool_choice: {choice!r} is not one of the session's tools {names}")


def choice_json(choice: str) -> Any:
    """``tool_choice`` as the session describes it."""
    return choice if choice in CHOICES else {"type": "function", "name": choice}


def tools_json(specs: list[ToolSpec]) -> list[dict[str, Any]]:
    """``tools`` as the session describes them."""
    return [
        {"type": "function", "name": s.name, "description": s.description,
         "parameters": s.parameters}
        for s in specs
    ]  # fmt: skip


def client_policy(specs: list[ToolSpec], choice: str) -> ToolPolicy | None:
    """The conversation's tools when the session names some (None: the server's own)."""
    if not specs:
        return None
    # no pre-check: a request it knows must not call a tool the client did not offer
    return ToolPolicy(Toolbox(), choice=choice, precheck=False, answer="model",
                      external=tuple(specs))  # fmt: skip


def call_item(item_id: str, call: ToolCalled, arguments: str, status: str) -> dict[str, Any]:
    """A ``function_call`` item."""
    return {"id": item_id, "type": "function_call", "object": "realtime.item", "status": status,
            "name": call.name, "call_id": call.call_id, "arguments": arguments}  # fmt: skip


class ClientCalls:
    """Listens to the conversation: the calls the client runs go out as the reply ends.

    Not before: until then the model's history does not hold the call, and an output the
    client sent at once would come too early for it.
    """

    def __init__(self, emitter: Emitter) -> None:
        self.emitter = emitter
        self.calls: dict[int, list[ToolCalled]] = {}  # turn -> its calls not yet announced

    def on_event(self, event: Event) -> None:
        """Keep the turn's client calls; announce them with its ``ReplyDone``."""
        match event:
            case ToolCalled(by="client"):
                self.calls.setdefault(event.turn_id, []).append(event)
            case ReplyDone():
                calls = self.calls.pop(event.turn_id, [])
                response = self.emitter.responses.get(event.turn_id)
                if response is not None and not response.done:
                    for call in calls:
                        announce_call(self.emitter, response, call)


def announce_call(emitter: Emitter, response: Response, call: ToolCalled) -> None:
    """The events of a call the model made, as one more output item of ``response``."""
    item_id, index, arguments = new_id("item"), len(response.output), json.dumps(call.arguments)
    where = {"response_id": response.id, "output_index": index}
    ids = {**where, "item_id": item_id, "call_id": call.call_id}
    emitter.emit("response.output_item.added", **where,
                 item=call_item(item_id, call, "", "in_progress"))  # fmt: skip
    if response.kept:
        emitter.add_item(call_item(item_id, call, "", "in_progress"))
    emitter.emit("response.function_call_arguments.delta", **ids, delta=arguments)
    emitter.emit("response.function_call_arguments.done", **ids, name=call.name,
                 arguments=arguments)  # fmt: skip
    done = call_item(item_id, call, arguments, "completed")
    emitter.emit("response.output_item.done", **where, item=done)
    response.output.append(done)
    if response.kept:
        emitter.items[item_id] = done
        emitter.emit("conversation.item.done", previous_item_id=None, item=done)


async def create_output(session: RealtimeSession, item: dict[str, Any]) -> None:
    """``conversation.item.create`` of a ``function_call_output``: the result the model reads."""
    call_id, output = item.get("call_id"), item.get("output")
    if not isinstance(call_id, str) or not isinstance(output, str):
        raise UserError("a function_call_output item needs 'call_id' and 'output' (strings)")
    call = _call(session.emitter.items, call_id)
    if call is None:
        raise UserError(f"no function_call with call_id {call_id!r} in this conversation")
    stored = {"id": str(item.get("id") or new_id("item")), "type": "function_call_output",
              "object": "realtime.item", "status": "completed", "call_id": call_id,
              "output": output}  # fmt: skip
    session.emitter.add_item(stored)
    session.emitter.emit("conversation.item.done", previous_item_id=None, item=stored)
    session.conversation_now().add_user(result_text(call["name"], output))


def follows_output(items: dict[str, dict[str, Any]]) -> bool:
    """Whether the conversation ends with a function call's output (the reply answers it)."""
    last = next(reversed(items.values()), None)
    return last is not None and last.get("type") == "function_call_output"


def tool_message(item: dict[str, Any], items: dict[str, dict[str, Any]]) -> ChatMessage | None:
    """A function call or its output as the model reads it (None for other items)."""
    if item.get("type") == "function_call":
        arguments = json.loads(item["arguments"] or "{}")
        return ChatMessage("assistant", call_text(Call(item["name"], arguments)))
    if item.get("type") == "function_call_output":
        call = _call(items, item["call_id"])
        name = call["name"] if call is not None else "the tool"
        return ChatMessage("user", result_text(name, item["output"]))
    return None


def _call(items: dict[str, dict[str, Any]], call_id: str) -> dict[str, Any] | None:
    return next(
        (i for i in items.values() if i.get("type") == "function_call" and i["call_id"] == call_id),
        None,
    )
