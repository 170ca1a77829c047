"""The conversation history of spoken turns, and the rules that keep it true to what was heard.

A question whose reply was never heard (a barge-in before the first word) stays unanswered,
and the user's next words are joined to it. After a barge-in only the part of the reply that
was played is kept (none at all: the reply and the tool calls that led to it go). A withdrawn
turn (the user went on speaking) leaves the history as it was before it.
"""

from __future__ import annotations

from assistant.types import ChatMessage


class History:
    """The messages the model reads, kept by the LLM stage turn by turn."""

    def __init__(self) -> None:
        self.messages: list[ChatMessage] = []
        self._remembered_turn = 0  # the turn whose reply ends the history
        self._calls = 0  # messages of that turn's tool calls, before its reply
        self._before: dict[int, list[ChatMessage]] = {}  # turn -> the history before it

    def begin(self, turn: int) -> None:
        """Turn ``turn`` starts: remember the history before it, in case it is withdrawn."""
        self._before = {t: h for t, h in self._before.items() if t >= turn - 1}
        self._before[turn] = list(self.messages)

    def withdraw(self, turn: int) -> None:
        """Turn ``turn`` never happened: the history goes back to what it was before it."""
        if (before := self._before.pop(turn, None)) is not None:
            self.messages = before

    def answered(self) -> list[ChatMessage]:
        """The history without a last question whose reply was never heard."""
        unanswered = bool(self.messages) and self.messages[-1].role == "user"
        return self.messages[:-1] if unanswered else list(self.messages)

    def question(self, user_text: str) -> ChatMessage:
        """The user's message, joined to the question it continues if that went unanswered."""
        pending = self.messages[len(self.answered()) :]
        words = [*(m.content for m in pending), user_text]
        return ChatMessage("user", " ".join(w for w in words if w))

    def remember(
        self,
        turn: int,
        user: ChatMessage,
        calls: list[ChatMessage],
        reply: str,
        open_call: bool = False,
    ) -> None:
        """Turn ``turn``: the question, its tool calls and results, and the reply.

        ``open_call``: the turn ends with a call the client runs, whose result comes as the
        next message (there is no reply yet).
        """
        if open_call:
            self.messages = [*self.answered(), user, *calls]
            self._remembered_turn, self._calls = turn, 0
            return
        calls = calls if reply else []  # a call whose answer never came is dropped
        self.messages = [*self.answered(), user, *calls, ChatMessage("assistant", reply)]
        self._remembered_turn, self._calls = turn, len(calls)

    def interrupted(self, turn: int, heard: str) -> None:
        """The reply of ``turn`` was cut after ``heard``."""
        if turn == self._remembered_turn:
            self.truncate(heard)

    def truncate(self, heard: str) -> None:
        """Keep only ``heard`` of the last reply; drop it (and its calls) if nothing was heard."""
        if not self.messages or self.messages[-1].role != "assistant":
            return
        if heard.strip():
            self.messages[-1] = ChatMessage("assistant", heard.strip())
            return
        del self.messages[len(self.messages) - 1 - self._calls :]
        self._calls = 0
