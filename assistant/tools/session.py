"""The tools of one conversation, built from ``[tools]``.

The built-in ones are there at once, MCP servers' once the conversation starts; with them
comes the watch that announces timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from assistant.config import Settings
from assistant.models.seeing import SeeingChatModel
from assistant.tools.calculator import calculator_tool
from assistant.tools.clock import clock_tool
from assistant.tools.look import look_tool
from assistant.tools.mcp_servers import McpServer, McpServerConfig, start_servers
from assistant.tools.policy import ToolPolicy
from assistant.tools.timer_store import TimerStore
from assistant.tools.timer_watch import Announce, watch
from assistant.tools.timers import timer_tools
from assistant.tools.toolbox import Tool, Toolbox
from assistant.tools.units import units_tool

log = logging.getLogger(__name__)


class SessionTools:
    """What a conversation may call, and the services behind it (MCP servers, the timer watch)."""

    def __init__(self, settings: Settings, llm: object, store: TimerStore | None = None) -> None:
        t = settings.tools
        self.settings = t
        self.store = store or TimerStore()
        builtin = builtin_tools(settings, llm, self.store)
        self.policy = ToolPolicy(
            Toolbox(builtin, t.timeout_s),
            choice=t.choice,
            precheck=t.precheck,
            answer=t.answer,
            max_steps=t.max_steps,
            spoken=frozenset(tool.spec.name for tool in builtin),
        )
        self._servers: list[McpServer] = []
        self._watch: asyncio.Task[None] | None = None

    @property
    def timers(self) -> bool:
        """Whether this conversation has the timer tools (and so announces timers)."""
        return "set_timer" in self.policy.toolbox

    async def start(self) -> None:
        """Start the MCP servers; one that fails is logged and left out."""
        configs = [
            McpServerConfig(m.name, m.command, m.args, m.env, m.allowed, m.timeout_s)
            for m in self.settings.mcp
        ]
        self._servers = await start_servers(configs) if configs else []
        for server in self._servers:
            for tool in server.tools:
                self.policy.toolbox.add(tool)
        self._check_choice()

    def watch(self, announce: Announce) -> None:
        """Say, with ``announce``, when timers go off (from now until ``stop``)."""
        if self.timers and self._watch is None:
            self._watch = asyncio.create_task(watch(self.store, announce), name="timers")

    def _check_choice(self) -> None:
        """A ``tools.choice`` naming no tool there is: one warning, and no tool is forced."""
        choice = self.policy.choice
        if choice not in ("none", "auto", "required") and choice not in self.policy.toolbox:
            log.warning("tools.choice: there is no tool %r; the model will call none", choice)
            self.policy.choice = "none"
        elif choice == "required" and not self.policy.toolbox:
            self.policy.choice = "none"

    async def stop(self) -> None:
        """Stop the watch and the MCP servers."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        await asyncio.gather(*(server.stop() for server in self._servers))
        self._servers = []


def builtin_tools(settings: Settings, llm: object, store: TimerStore) -> list[Tool]:
    """The built-in tools ``tools.builtin`` names; "look" needs a vision model and a camera."""
    chosen = settings.tools.builtin
    tools: list[Tool] = []
    if "clock" in chosen:
        tools.append(clock_tool())
    if "timers" in chosen:
        tools += timer_tools(store)
    if "calculator" in chosen:
        tools.append(calculator_tool())
    if "units" in chosen:
        tools.append(units_tool())
    seeing = llm if isinstance(llm, SeeingChatModel) else None
    if "look" in chosen and seeing and seeing.vision and seeing.eyes.camera is not None:
        tools.append(look_tool(seeing.vision, seeing.eyes.camera, settings.vision.max_tokens))
    return tools
