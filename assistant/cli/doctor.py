"""``assistant doctor``: what each model runs on (CPU, GPU, a remote server) and why."""

from __future__ import annotations

import json

import click

from assistant.cli.common import State
from assistant.hardware import llama_gpu, placement


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def doctor(state: State, as_json: bool) -> int:
    """Show where each model runs and why (GPU settings, the llama.cpp build, CUDA devices)."""
    settings = state.settings()
    rows = placement(settings)
    if as_json:
        click.echo(json.dumps({"llama_gpu_build": llama_gpu(), "models": rows}, indent=2))
    else:
        build = "with a GPU back-end" if llama_gpu() else "CPU-only"
        click.echo(f"llama-cpp-python build: {build}")
        for row in rows:
            click.echo(f"{row['role']:<7} {row['runs_on']:<7} {row['why']}")
    return 1 if any(r["runs_on"] == "error" for r in rows) else 0
