"""``assistant serve``: the local HTTP API (native + OpenAI-compatible)."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import click

from assistant.cli.common import State
from assistant.config import Settings
from assistant.errors import UserError


@click.command()
@click.option("--host", default=None, help="Address to listen on [default: 127.0.0.1].")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port [default: 8765].")
@click.option(
    "--api-key", default=None, help="Require 'Authorization: Bearer KEY' (needed off loopback)."
)
@click.option("--llm-model", "llm_model", default=None, help="Chat model: a name or a GGUF path.")
@click.pass_obj
def serve(
    state: State, /, host: str | None, port: int | None, api_key: str | None, llm_model: str | None
) -> int:
    """Serve the assistant over HTTP on this machine."""
    flags: dict[str, dict[str, object]] = {"server": {}, "llm": {}}
    for key, value in (("host", host), ("port", port), ("api_key", api_key)):
        if value is not None:
            flags["server"][key] = value
    if llm_model is not None:
        flags["llm"]["model"] = llm_model
    settings = state.settings(flags)
    check_binding(settings)
    asyncio.run(_serve(settings))
    return 0


def check_binding(settings: Settings) -> None:
    """UserError when the server could not listen where the settings say, or should not."""
    from assistant.server.app import is_loopback

    s = settings.server
    if not is_loopback(s.host) and not s.api_key:
        raise UserError(
            f"listening on {s.host} exposes the assistant to the network; give --api-key KEY "
            "(or server.api_key), or keep the default 127.0.0.1"
        )
    family = socket.AF_INET6 if ":" in s.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: a server restarted at once finds its old connections in
        # TIME_WAIT, which must not count as the port being busy (a listener still does).
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((s.host, s.port))
        except OSError as exc:
            raise UserError(
                f"cannot listen on {s.host}:{s.port} ({exc.strerror}); choose another --port"
            ) from None


async def _serve(settings: Settings) -> None:
    from assistant.server.app import create_app, is_loopback
    from assistant.server.engine import Engine
    from assistant.server.shutdown import GracefulServer, server_config

    s = settings.server
    engine = await Engine.load(settings)
    app = create_app(engine, s.api_key or None)
    config = server_config(app, s.host, s.port, s.shutdown_grace_s)
    source = f" from {settings.llm.remote_url()}" if engine.hub.remote else ""
    local = is_loopback(s.host) or s.host in ("0.0.0.0", "::")
    where = f"http://{'localhost' if local else s.host}:{s.port}"
    key = " (add ?api_key=YOUR_KEY)" if s.api_key else ""
    click.echo(f"serving {engine.hub.name}{source} (OpenAI API under {where}/v1)", err=True)
    click.echo(f"open {where}/ for the voice page{key}", err=True)
    try:
        await GracefulServer(config, engine).serve()
    finally:
        with contextlib.suppress(Exception):
            await engine.close()
