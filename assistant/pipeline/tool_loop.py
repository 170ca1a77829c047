"""A tool call in a turn: run or handed out, reported on the bus, written into the conversation.

Which calls a turn may make, and in which mode each step runs, is ``assistant.tools.policy``.
"""

from __future__ import annotations

import uuid

from assistant.llm.toolcall import Call, call_text, result_text
from assistant.pipeline.events import EventBus, ToolCalled, ToolResult
from assistant.tools.policy import ToolPolicy
from assistant.tools.toolbox import Outcome
from assistant.types import ChatMessage


def exchange(call: Call, outcome: Outcome) -> list[ChatMessage]:
    """A call and its result as the model reads them in the conversation."""
    return [
        ChatMessage("assistant", call_text(call)),
        ChatMessage("user", result_text(call.name, outcome.text)),
    ]


def hand_out(bus: EventBus, turn: int, call: Call) -> None:
    """Report a call the client runs (``by="client"``); no result comes back here."""
    ident = f"call_{uuid.uuid4().hex[:12]}"
    bus.publish(
        ToolCalled(
            turn_id=turn, call_id=ident, name=call.name, arguments=call.arguments, by="client"
        )
    )


async def run_tool(policy: ToolPolicy, bus: EventBus, turn: int, call: Call, by: str) -> Outcome:
    """Run ``call`` with ``policy``'s toolbox, reporting it and its result on ``bus``."""
    ident = f"call_{uuid.uuid4().hex[:12]}"
    bus.publish(
        ToolCalled(turn_id=turn, call_id=ident, name=call.name, arguments=call.arguments, by=by)
    )
    outcome = await policy.toolbox.call(call.name, call.arguments)
    bus.publish(
        ToolResult(
            turn_id=turn,
            call_id=ident,
            name=call.name,
            result=outcome.text,
            ok=outcome.ok,
            duration_ms=round(outcome.duration_ms, 1),
        )
    )
    return outcome
