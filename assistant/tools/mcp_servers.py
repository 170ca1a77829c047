"""External tools from MCP servers over stdio, with the ``mcp`` package's client.

Each ``[[tools.mcp]]`` entry starts its server as a subprocess when the conversation starts,
lists its tools and offers those in ``allowed`` (all of them when ``allowed`` is empty) under
their own names. A server that cannot be started, or does not answer within ``timeout_s``, is
one line in the log, and the conversation goes on without its tools. The allow-list is
enforced twice: only allowed tools are offered, and a call to any other name is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from assistant.llm.toolcall import ToolSpec
from assistant.tools.toolbox import Tool, ToolError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class McpServerConfig:
    """How to start one MCP server, and which of its tools may be used."""

    name: str
    command: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    allowed: list[str] = field(default_factory=list)  # empty: every tool it has
    timeout_s: float = 10.0  # to start, and per call


class McpServer:
    """One running MCP server; its session lives in a task of its own until ``stop``."""

    def __init__(self, config: McpServerConfig) -> None:
        self.config = config
        self.tools: list[Tool] = []
        self._session: Any = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failure = ""

    async def start(self) -> bool:
        """Start the server and list its tools; False (and a log line) when it cannot be used."""
        self._task = asyncio.create_task(self._serve(), name=f"mcp-{self.config.name}")
        try:
            await asyncio.wait_for(self._ready.wait(), self.config.timeout_s)
        except TimeoutError:
            self._failure = f"did not answer within {self.config.timeout_s:g} s"
        if self._failure:
            log.warning("MCP server %s: %s; going on without it", self.config.name, self._failure)
            await self.stop()
            return False
        return True

    async def stop(self) -> None:
        """End the session and the subprocess."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), 5.0)
            if not self._task.done():
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task

    async def _serve(self) -> None:
        from mcp import ClientSession
        from mcp.client.stdio import StdioServerParameters, stdio_client

        c = self.config
        parameters = StdioServerParameters(command=c.command, args=c.args, env=c.env or None)
        try:
            async with contextlib.AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(stdio_client(parameters))
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
                listed = await session.list_tools()
                self._session = session
                self.tools = [self._tool(t) for t in listed.tools if self._allows(t.name)]
                self._ready.set()
                await self._stop.wait()
        except Exception as exc:  # a server that fails is logged; the conversation goes on
            self._failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        finally:
            self._session = None
            self._ready.set()

    def _allows(self, name: str) -> bool:
        return not self.config.allowed or name in self.config.allowed

    def _tool(self, listed: Any) -> Tool:
        name = listed.name

        async def run(arguments: dict[str, Any]) -> str:
            if not self._allows(name) or self._session is None:
                raise ToolError(f"{name} is not available")
            result = await self._session.call_tool(
                name, arguments, read_timeout_seconds=self.config.timeout_s
            )
            text = " ".join(getattr(block, "text", "") for block in result.content).strip()
            if result.is_error:
                raise ToolError(text or f"{name} failed")
            return text or str(getattr(result, "structured_content", "") or "done")

        schema = listed.input_schema or {"type": "object", "properties": {}}
        return Tool(ToolSpec(name, listed.description or "", schema), run)


async def start_servers(configs: list[McpServerConfig]) -> list[McpServer]:
    """Start every configured server at once; those that fail are left out (and logged)."""
    servers = [McpServer(c) for c in configs]
    started = await asyncio.gather(*(s.start() for s in servers))
    return [s for s, ok in zip(servers, started, strict=True) if ok]
