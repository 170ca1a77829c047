"""``assistant config``: print the effective configuration."""

from __future__ import annotations

import json

import click
import tomli_w

from assistant.cli.common import State
from assistant.config import config_files


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML.")
@click.pass_obj
def config(state: State, as_json: bool) -> int:
    """Show the settings in effect (files < ASSISTANT_* environment < flags)."""
    settings = state.settings()
    data = settings.model_dump(mode="json", exclude_none=not as_json)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return 0
    files = config_files(state.config_file)
    click.echo(f"# files read: {', '.join(map(str, files)) or 'none'}")
    click.echo("# unset sampler fields come from llm.preset", nl=True)
    click.echo(tomli_w.dumps(data).rstrip())
    return 0
