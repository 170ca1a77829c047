"""``assistant kiosk``: always on, on this machine's microphone and speaker, with the server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Iterator
from importlib.resources import files
from typing import TYPE_CHECKING

import click

from assistant.cli.common import State
from assistant.cli.serve import check_binding
from assistant.config import Settings
from assistant.kiosk.wake import check_phrase

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger("assistant.kiosk")


@click.command()
@click.option("--host", default=None, help="Address of the HTTP server [default: 127.0.0.1].")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port [default: 8765].")
@click.option(
    "--api-key", default=None, help="Require 'Authorization: Bearer KEY' (needed off loopback)."
)
@click.option(
    "--wake-phrase",
    default="",
    metavar="WORDS",
    help="Answer only turns that contain these words (and follow-ups right after a reply).",
)
@click.option(
    "--wake-word",
    default=None,
    type=click.Choice(["okay_nabu", "hey_jarvis", "hey_mycroft", "alexa"]),
    help="Open a turn only after this built-in wake word (kiosk.wake_word).",
)
@click.option("--print-unit", is_flag=True, help="Print a systemd unit for this install and exit.")
@click.pass_obj
def kiosk(
    state: State,
    /,
    host: str | None,
    port: int | None,
    api_key: str | None,
    wake_phrase: str,
    wake_word: str | None,
    print_unit: bool,
) -> int:
    """Run headless and always on: hands-free turns on the local devices, plus the server.

    Logs are JSON lines on stderr. /health (with the kiosk's state), /metrics and the
    WebSockets stay available throughout; SIGTERM stops it.
    """
    if wake_phrase:
        check_phrase(wake_phrase)
    if print_unit:
        click.echo(unit_file(wake_phrase, wake_word or ""), nl=False)
        return 0
    flags: dict[str, dict[str, object]] = {"server": {}, "kiosk": {}}
    for key, value in (("host", host), ("port", port), ("api_key", api_key)):
        if value is not None:
            flags["server"][key] = value
    if wake_word is not None:
        flags["kiosk"]["wake_word"] = wake_word
    settings = state.settings(flags)
    if settings.kiosk.wake_word:
        from assistant.models.wake_word import check_wake_word

        check_wake_word(settings.kiosk.wake_word)
    check_binding(settings)
    from assistant.kiosk.logs import json_logging

    with json_logging():
        asyncio.run(_run(settings, wake_phrase))
    return 0


def unit_file(wake_phrase: str = "", wake_word: str = "") -> str:
    """The systemd unit shipped with the package, pointed at this install's command."""
    template = files("assistant.kiosk").joinpath("assistant-kiosk.service").read_text()
    command = f"{sys.executable} -m assistant"  # this install's, not another one on PATH
    # systemd unquotes C-style escapes and expands %-specifiers inside quotes
    quoted = wake_phrase.replace("\\", "\\\\").replace("'", "\\x27").replace("%", "%%")
    wake = f" --wake-phrase '{quoted}'" if wake_phrase else ""
    wake += f" --wake-word {wake_word}" if wake_word else ""  # one of four plain names
    return template.replace("/usr/local/bin/assistant kiosk", f"{command} kiosk{wake}")


async def _run(settings: Settings, wake_phrase: str) -> None:
    import uvicorn

    from assistant.kiosk import Kiosk, KioskHooks
    from assistant.server.app import create_app
    from assistant.server.engine import Engine

    s = settings.server
    engine = await Engine.load(settings)
    metrics = engine.metrics
    hooks = KioskHooks(engine.record_turn, metrics.kiosk_restarts.inc, metrics.kiosk_wakes.inc)
    kiosk = Kiosk(engine.hub, settings, wake_phrase, hooks)
    engine.health_hooks["kiosk"] = lambda: kiosk.status
    app = create_app(engine, s.api_key or None)
    config = uvicorn.Config(
        app,
        host=s.host,
        port=s.port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = _server(config)
    stop = asyncio.Event()
    with _signals(stop, server):
        log.info("serving on http://%s:%s", s.host, s.port, extra={"fields": {"port": s.port}})
        serving = asyncio.create_task(server.serve())
        try:
            await kiosk.run(stop)
        finally:
            engine.stop()  # replies and voice sessions end now, as under `serve`
            server.should_exit = True
            await serving
            await engine.close()
    log.info("stopped")


def _server(config: uvicorn.Config) -> uvicorn.Server:
    """Uvicorn's server, minus its own signal handling (the kiosk stops it itself)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(config)


@contextlib.contextmanager
def _signals(stop: asyncio.Event, server: uvicorn.Server) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` and ask the server to exit."""
    loop = asyncio.get_running_loop()

    def stopping() -> None:
        log.info("stopping")
        stop.set()
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping)
    try:
        yield
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
