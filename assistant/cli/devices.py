"""``assistant devices``: the microphones and speakers PortAudio can open."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from assistant.audio.devices import Kind, default_index, list_devices


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the devices as JSON.")
def devices(as_json: bool) -> int:
    """List audio devices, for --input-device / --output-device (an index or a name part)."""
    kinds: tuple[Kind, ...] = ("input", "output")
    found = {kind: list_devices(kind) for kind in kinds}
    defaults = {kind: default_index(kind) for kind in kinds}
    if as_json:
        out = {
            kind: [asdict(d) | {"default": d.index == defaults[kind]} for d in found[kind]]
            for kind in kinds
        }
        click.echo(json.dumps(out, indent=2))
        return 0
    for kind in kinds:
        click.echo(f"{kind} devices:")
        if not found[kind]:
            click.echo("  (none)")
        for d in found[kind]:
            mark = "*" if d.index == defaults[kind] else " "
            click.echo(
                f" {mark}{d.index:3d}  {d.name}  [{d.hostapi}, {d.channels} ch, "
                f"{d.default_rate} Hz]"
            )
    click.echo("* = system default")
    return 0
