"""``assistant chat``: a spoken conversation from an audio file, or live on the microphone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from assistant.cli.common import State, flag_overrides, model_options, run_async
from assistant.cli.printer import ConsolePrinter
from assistant.sessions import Observers, chat_file, chat_live


@click.command()
@click.option(
    "--input",
    "-i",
    "input_path",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Talk through an audio file (any format) instead of the microphone.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    metavar="WAV",
    help="Write all reply audio to one WAV file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per turn.")
@click.option(
    "--no-realtime",
    is_flag=True,
    help="Feed the file as fast as possible instead of at speaking pace.",
)
@model_options
@click.pass_obj
def chat(
    state: State,
    /,
    input_path: Path | None,
    output: Path | None,
    as_json: bool,
    no_realtime: bool,
    **flags: Any,
) -> int:
    """Talk with the assistant: each utterance is one turn, answered aloud."""
    settings = state.settings(flag_overrides(flags))
    observers = Observers()
    printer = ConsolePrinter(observers.bus, as_json)
    observers.on_turn = printer.turn
    if input_path is None:
        if output is not None or no_realtime:
            raise click.UsageError("--output and --no-realtime need --input FILE")
        run_async(chat_live(settings, observers))
        return 0
    turns = run_async(chat_file(settings, input_path, output, not no_realtime, observers))
    if not turns:
        click.echo(f"no speech found in {input_path}", err=True)
    return 0
