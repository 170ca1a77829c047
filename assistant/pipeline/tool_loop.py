"""A tool call and its result, written into the conversation the way the model reads them.

Which calls a turn may make, and in which mode each step runs, is ``assistant.tools.policy``.
"""

from __future__ import annotations

from assistant.llm.toolcall import Call, call_text, result_text
from assistant.tools.toolbox import Outcome
from assistant.types import ChatMessage


def exchange(call: Call, outcome: Outcome) -> list[ChatMessage]:
    """A call and its result as the model reads them in the conversation."""
    return [
        ChatMessage("assistant", call_text(call)),
        ChatMessage("user", result_text(call.name, outcome.text)),
    ]
