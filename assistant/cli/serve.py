"""``assistant serve``: the local HTTP API (native + OpenAI-compatible)."""

from __future__ import annotations

import asyncio
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
@click.option(
    "--wyoming-port",
    "wyoming_port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Also serve Home Assistant's Wyoming protocol on this TCP port.",
)
@click.option(
    "--wyoming-zeroconf",
    "wyoming_zeroconf",
    is_flag=True,
    default=None,
    help="Advertise the Wyoming endpoint over mDNS so Home Assistant discovers it.",
)
@click.pass_obj
def serve(
    state: State,
    /,
    host: str | None,
    port: int | None,
    api_key: str | None,
    llm_model: str | None,
    wyoming_port: int | None,
    wyoming_zeroconf: bool | None,
) -> int:
    """Serve the assistant over HTTP on this machine (and Wyoming, with --wyoming-port)."""
    flags: dict[str, dict[str, object]] = {"server": {}, "llm": {}}
    given = (
        ("host", host),
        ("port", port),
        ("api_key", api_key),
        ("wyoming_port", wyoming_port),
        ("wyoming_zeroconf", wyoming_zeroconf),
    )
    for key, value in given:
        if value is not None:
            flags["server"][key] = value
    if llm_model is not None:
        flags["llm"]["model"] = llm_model
    settings = state.settings(flags)
    check_binding(settings)
    asyncio.run(_serve(settings))
    from assistant.doors.lifecycle import skip_final_collections

    skip_final_collections()
    return 0


def check_binding(settings: Settings) -> None:
    """UserError when the server could not listen where the settings say, or should not."""
    from assistant.addresses import is_loopback

    s = settings.server
    if not is_loopback(s.host) and not s.api_key:
        raise UserError(
            f"listening on {s.host} exposes the assistant to the network; give --api-key KEY "
            "(or server.api_key), or keep the default 127.0.0.1"
        )
    if s.wyoming_port and not is_loopback(s.wyoming_host) and not s.wyoming_allow_network:
        raise UserError(
            f"Wyoming on {s.wyoming_host} would let anyone on the network use the assistant "
            "(the protocol carries no key); set server.wyoming_allow_network = true to mean it, "
            "or keep server.wyoming_host = 127.0.0.1"
        )
    _check_zeroconf(settings)
    _check_free(s.host, s.port, "--port")
    if s.wyoming_port:
        _check_free(s.wyoming_host, s.wyoming_port, "--wyoming-port")


def _check_zeroconf(settings: Settings) -> None:
    from assistant.addresses import is_loopback
    from assistant.doors.wyoming.zeroconf import advertised_address

    s = settings.server
    if not s.wyoming_zeroconf:
        return
    if not s.wyoming_port:
        raise UserError("--wyoming-zeroconf advertises the Wyoming endpoint; give --wyoming-port")
    if is_loopback(s.wyoming_host):
        raise UserError(
            f"--wyoming-zeroconf would advertise an endpoint only this machine can reach "
            f"(server.wyoming_host = {s.wyoming_host}); set server.wyoming_host to this "
            "machine's address or 0.0.0.0 (with server.wyoming_allow_network = true)"
        )
    try:
        advertised_address(s.wyoming_host)
    except (ValueError, OSError) as exc:
        raise UserError(
            f"cannot advertise Wyoming on {s.wyoming_host} ({exc}); zeroconf needs an IPv4 "
            "server.wyoming_host, or 0.0.0.0 on a machine with a network route"
        ) from None


def _check_free(host: str, port: int, flag: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: a server restarted at once finds its old connections in
        # TIME_WAIT, which must not count as the port being busy (a listener still does).
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UserError(
                f"cannot listen on {host}:{port} ({exc.strerror}); choose another {flag}"
            ) from None


async def _serve(settings: Settings) -> None:
    from assistant.addresses import is_loopback
    from assistant.doors import lifecycle
    from assistant.server.engine import Engine

    s = settings.server
    engine = await Engine.load(settings)
    source = f" from {settings.llm.remote_url()}" if engine.hub.remote else ""
    local = is_loopback(s.host) or s.host in ("0.0.0.0", "::")
    where = f"http://{'localhost' if local else s.host}:{s.port}"
    key = " (add ?api_key=YOUR_KEY)" if s.api_key else ""
    click.echo(f"serving {engine.hub.name}{source} (OpenAI API under {where}/v1)", err=True)
    click.echo(f"open {where}/ for the voice page{key}", err=True)
    await lifecycle.run(engine, lambda line: click.echo(line, err=True))
