"""The conversation context: the items the model reads, and the rules that keep them true.

One ``ConversationContext`` per conversation, handed to the LLM stage, which reads it and
records each turn in it. Doors never touch a stage: Realtime items and typed words go
through its methods, and what the user heard of a cut reply reaches it as a ``HeardFrame``
(``stages/heard.py``).

A question whose reply was never heard (a barge-in before the first word) stays unanswered,
and the user's next words are joined to it. After a barge-in only the part of the reply that
was played is kept (none at all: the reply and the tool calls that led to it go). A withdrawn
turn (the user went on speaking) leaves the context as it was before it.
"""

from __future__ import annotations

from collections.abc import Sequence

from assistant.models.interfaces import LanguageModel
from assistant.types import ChatMessage


class ConversationContext:
    """The messages of one conversation, kept turn by turn."""

    def __init__(self, messages: Sequence[ChatMessage] = ()) -> None:
        self._messages: list[ChatMessage] = list(messages)
        self._remembered_turn = 0  # the turn whose reply ends the context
        self._calls = 0  # messages of that turn's tool calls, before its reply
        self._before: dict[int, list[ChatMessage]] = {}  # turn -> the context before it

    @property
    def messages(self) -> list[ChatMessage]:
        """The conversation so far (a copy: change it through the methods)."""
        return list(self._messages)

    # --- what a door does ------------------------------------------------------------------

    def add_user(self, text: str) -> None:
        """Words of the user for the next reply, which is asked for separately."""
        self._messages.append(ChatMessage("user", text))

    def replace(self, messages: Sequence[ChatMessage]) -> None:
        """The conversation is now ``messages`` (a client edited its items)."""
        self._messages = list(messages)

    # --- what a turn does ------------------------------------------------------------------

    def begin(self, turn: int) -> None:
        """Turn ``turn`` starts: remember the context before it, in case it is withdrawn."""
        self._before = {t: h for t, h in self._before.items() if t >= turn - 1}
        self._before[turn] = list(self._messages)

    def withdraw(self, turn: int) -> None:
        """Turn ``turn`` never happened: the context goes back to what it was before it."""
        if (before := self._before.pop(turn, None)) is not None:
            self._messages = before

    def answered(self) -> list[ChatMessage]:
        """The messages without a last question whose reply was never heard."""
        unanswered = bool(self._messages) and self._messages[-1].role == "user"
        return self._messages[:-1] if unanswered else list(self._messages)

    def question(self, user_text: str) -> ChatMessage:
        """The user's message, joined to the question it continues if that went unanswered."""
        pending = self._messages[len(self.answered()) :]
        words = [*(m.content for m in pending), user_text]
        return ChatMessage("user", " ".join(w for w in words if w))

    def prompt(
        self, system: str, user: ChatMessage, added: Sequence[ChatMessage] = ()
    ) -> list[ChatMessage]:
        """What the model reads for a reply, before it is fitted to the window.

        The system prompt, the answered messages, the user's message and the turn's tool
        calls and results so far.
        """
        head = [ChatMessage("system", system)] if system else []
        return [*head, *self.answered(), user, *added]

    @staticmethod
    def fit(model: LanguageModel, prompt: list[ChatMessage], max_tokens: int) -> list[ChatMessage]:
        """``prompt`` within the model's context window, leaving ``max_tokens`` for the reply.

        The oldest messages go first (never the system prompt). Runs on the model's thread:
        it counts tokens with the model's tokenizer.
        """
        return model.fit_history(prompt, max_tokens)

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
            self._messages = [*self.answered(), user, *calls]
            self._remembered_turn, self._calls = turn, 0
            return
        calls = calls if reply else []  # a call whose answer never came is dropped
        self._messages = [*self.answered(), user, *calls, ChatMessage("assistant", reply)]
        self._remembered_turn, self._calls = turn, len(calls)

    def interrupted(self, turn: int, heard: str) -> None:
        """The reply of ``turn`` was cut after ``heard`` (a barge-in)."""
        if turn == self._remembered_turn:
            self.truncate(heard)

    def truncate(self, heard: str) -> None:
        """Keep only ``heard`` of the last reply; drop it (and its calls) if nothing was heard."""
        if not self._messages or self._messages[-1].role != "assistant":
            return
        if heard.strip():
            self._messages[-1] = ChatMessage("assistant", heard.strip())
            return
        del self._messages[len(self._messages) - 1 - self._calls :]
        self._calls = 0
