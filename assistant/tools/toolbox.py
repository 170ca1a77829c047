"""The tools of a conversation, and running one call safely.

A call's arguments are validated against the tool's JSON schema (jsonschema) before the tool
runs. A tool that fails, raises or runs past its time limit gives an error result, which the
model reads like any other; it never ends the turn with a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jsonschema  # type: ignore[import-untyped]

from assistant.llm.toolcall import ToolSpec

log = logging.getLogger(__name__)

Run = Callable[[dict[str, Any]], Awaitable[str]]


class ToolError(Exception):
    """A tool could not do what was asked; the message is its result, for the model and user."""


@dataclass(frozen=True)
class Tool:
    """A tool: what the model is told about it, and the coroutine that runs it."""

    spec: ToolSpec
    run: Run


@dataclass(frozen=True)
class Outcome:
    """What one call gave: the result text (or the error), and how long it took."""

    text: str
    ok: bool
    duration_ms: float


class Toolbox:
    """The tools available to one conversation, by name."""

    def __init__(self, tools: list[Tool] | None = None, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self._tools: dict[str, Tool] = {}
        for tool in tools or []:
            self.add(tool)

    def add(self, tool: Tool) -> None:
        """Offer ``tool`` (a later tool of the same name replaces an earlier one)."""
        self._tools[tool.spec.name] = tool

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __bool__(self) -> bool:
        return bool(self._tools)

    @property
    def specs(self) -> list[ToolSpec]:
        """What the model is told, in the order the tools were added."""
        return [tool.spec for tool in self._tools.values()]

    async def call(self, name: str, arguments: dict[str, Any]) -> Outcome:
        """Run ``name`` with ``arguments``; every failure is an error outcome."""
        began = time.monotonic()
        try:
            text, ok = await self._run(name, arguments), True
        except ToolError as exc:
            text, ok = f"error: {exc}", False
        except TimeoutError:
            text, ok = f"error: {name} took longer than {self.timeout_s:g} s", False
        except Exception as exc:  # a tool's bug is the model's error result, not a crash
            log.warning("tool %s failed: %s: %s", name, type(exc).__name__, exc)
            text, ok = f"error: {name} failed ({type(exc).__name__})", False
        return Outcome(text, ok, (time.monotonic() - began) * 1000)

    async def _run(self, name: str, arguments: dict[str, Any]) -> str:
        tool = self._tools.get(name)
        if tool is None:
            raise ToolError(f"there is no tool called {name!r}")
        try:
            jsonschema.validate(arguments, tool.spec.parameters)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "arguments"
            raise ToolError(f"{where}: {exc.message}") from None
        return await asyncio.wait_for(tool.run(arguments), self.timeout_s)
