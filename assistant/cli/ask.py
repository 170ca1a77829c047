"""``assistant ask``: one typed question, the reply streamed as text (and spoken to a file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from assistant.cli.common import State, flag_overrides, model_options, run_async
from assistant.cli.printer import ConsolePrinter
from assistant.pipeline.conversation import Observers
from assistant.sessions import ask_text


@click.command()
@click.argument("text")
@click.option(
    "--speak",
    type=click.Path(path_type=Path),
    metavar="WAV",
    help="Also speak the reply into this WAV file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the turn as one JSON object.")
@click.option(
    "--image",
    type=click.Path(path_type=Path),
    default=None,
    help="Ask about this picture (needs a vision model, see `assistant describe`).",
)
@model_options
@click.pass_obj
def ask(
    state: State, /, text: str, speak: Path | None, as_json: bool, image: Path | None, **flags: Any
) -> int:
    """Ask a question in writing."""
    if not text.strip():
        raise click.UsageError(
            'TEXT is empty; ask something, e.g. assistant ask "What is a comet?"'
        )
    settings = state.settings(flag_overrides(flags))
    observers = Observers()
    ConsolePrinter(observers, as_json, show_user=False)
    run_async(ask_text(settings, text, speak, observers, image=image))
    return 0
