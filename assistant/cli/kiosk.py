"""``assistant kiosk``: always on, on this machine's microphone and speaker, with the server."""

from __future__ import annotations

import asyncio
import logging
import sys
from importlib.resources import files

import click

from assistant.cli.common import State
from assistant.cli.serve import check_binding
from assistant.config import Settings
from assistant.kiosk.wake import check_phrase

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
@click.option(
    "--home-assistant",
    is_flag=True,
    default=None,
    help="Be a Home Assistant voice satellite: the ESPHome API, port 6053 (kiosk.home_assistant).",
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
    home_assistant: bool | None,
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
    if home_assistant:
        flags["kiosk"]["home_assistant"] = True
    settings = state.settings(flags)
    if settings.kiosk.wake_word:
        from assistant.models.wake_word import check_wake_word

        check_wake_word(settings.kiosk.wake_word)
    check_binding(settings)
    from assistant.kiosk.logs import json_logging

    with json_logging():
        asyncio.run(_run(settings, wake_phrase))
    from assistant.doors.lifecycle import skip_final_collections

    skip_final_collections()
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
    from assistant.doors import lifecycle
    from assistant.kiosk import Kiosk, KioskHooks
    from assistant.kiosk.esphome.service import satellite_for
    from assistant.server.engine import Engine

    s = settings.server
    engine = await Engine.load(settings)
    metrics = engine.metrics
    hooks = KioskHooks(engine.record_turn, metrics.kiosk_restarts.inc, metrics.kiosk_wakes.inc)
    async with satellite_for(settings) as satellite:
        kiosk = Kiosk(engine.hub, settings, wake_phrase, hooks, satellite)
        engine.health_hooks["kiosk"] = kiosk.report
        log.info("serving on http://%s:%s", s.host, s.port, extra={"fields": {"port": s.port}})
        await lifecycle.run(engine, log.info, beside=kiosk.run)
    log.info("stopped")
