"""Tools in a spoken turn: which calls a turn makes, and how each step's reply is held.

A turn first goes through the deterministic pre-check (``tools/router.py``): a request it
recognises calls its tool without asking the model. Otherwise, when ``tools.choice`` offers
the model tools, each step of the turn is in one of three modes:

- ``call`` (``required`` or a named tool, first step only): the reply is held to a call;
- ``auto``: the model answers in words or calls a tool. It runs free, at full speed, and only
  when its reply opens with ``{`` is that reply thrown away and made again held to the call
  grammar, so a call always parses and validates while words cost nothing extra;
- ``words``: after the step limit (or a forced call), the reply may not be a call.

A built-in tool's result is a sentence made to be heard; with ``tools.answer = "auto"`` it is
spoken as it is, otherwise the model words the answer from the result.

A tool in ``external`` is run by the client (the Realtime API's session tools): a call to it
is handed out (``ToolCalled`` with ``by="client"``) and ends the reply; its result comes back
as the next message of the conversation. Running and handing out calls, which reports them on
the event bus, is the pipeline's (pipeline/tool_loop.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.llm.grammar import Grammar
from assistant.llm.toolcall import Call, ToolSpec, ToolUse
from assistant.tools.router import route
from assistant.tools.toolbox import Outcome, Toolbox

WORDS = Grammar("root ::= [^{ \\t\\n] [^\\x00]*\n")  # any reply that is not a call


@dataclass
class ToolPolicy:
    """How a conversation uses its tools (from ``[tools]``)."""

    toolbox: Toolbox
    choice: str = "none"  # none | auto | required | a tool's name: what the model may do
    precheck: bool = True
    answer: str = "auto"  # auto | model
    max_steps: int = 3
    spoken: frozenset[str] = frozenset()  # tools whose results are sentences to be heard
    external: tuple[ToolSpec, ...] = ()  # tools the client runs: a call to one ends the reply

    @property
    def specs(self) -> list[ToolSpec]:
        """Every tool the model may call: those run here, then the client's."""
        return [*self.toolbox.specs, *self.external]

    @property
    def offered(self) -> bool:
        """Whether the model is told about the tools (and may call them)."""
        return self.choice != "none" and bool(self.specs)

    def runs_here(self, name: str) -> bool:
        """Whether a call to ``name`` runs here (else the client runs it)."""
        return all(spec.name != name for spec in self.external)

    def system_prompt(self, base: str) -> str:
        """``base``, followed by the tools when the model is offered them."""
        if not self.offered:
            return base
        listing = ToolUse(self.specs, "auto").system_prompt()
        return f"{base}\n\n{listing}" if base else listing

    def mode(self, step: int) -> str:
        """call, auto or words for the ``step``-th model reply of a turn (0 = the first)."""
        if not self.offered:
            return "free"
        if step >= self.max_steps or (step > 0 and self.choice != "auto"):
            return "words"
        return "auto" if self.choice == "auto" else "call"

    def call_grammar(self) -> Grammar:
        """A call to one of the tools the choice allows."""
        choice = self.choice if self.choice not in ("auto", "none") else "required"
        return ToolUse(self.specs, choice).grammar()

    def routed(self, words: str) -> Call | None:
        """The call the pre-check makes for ``words``, if any."""
        return route(words, self.toolbox) if self.precheck and words else None

    def speaks(self, name: str, outcome: Outcome) -> bool:
        """Whether ``outcome`` is spoken as it is, without the model."""
        return self.answer == "auto" and outcome.ok and name in self.spoken
