"""``assistant doctor``: what each model runs on (CPU, GPU, a remote server) and why.

Each role's backend is probed too (models/backends.py): where it points, the model, whether
it answers and how fast. The exit code is 1 when something needs fixing: a model that cannot
run where it is asked to, or a backend that does not answer.
"""

from __future__ import annotations

import json

import click

from assistant.cli.common import State
from assistant.hardware import llama_gpu, placement
from assistant.models.backends import backend_statuses
from assistant.models.remote_role import BackendStatus


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def doctor(state: State, as_json: bool) -> int:
    """Show where each model runs and why, and whether each model's backend answers."""
    settings = state.settings()
    rows = placement(settings)
    backends = backend_statuses(settings, {})
    if as_json:
        click.echo(
            json.dumps(
                {
                    "llama_gpu_build": llama_gpu(),
                    "models": rows,
                    "backends": {role: s.as_dict() for role, s in backends.items()},
                },
                indent=2,
            )
        )
    else:
        build = "with a GPU back-end" if llama_gpu() else "CPU-only"
        click.echo(f"llama-cpp-python build: {build}")
        for row in rows:
            click.echo(f"{row['role']:<7} {row['runs_on']:<7} {row['why']}")
        click.echo("backends:")
        for status in backends.values():
            click.echo(_backend_line(status))
    broken = any(r["runs_on"] == "error" for r in rows)
    return 1 if broken or not all(s.ready for s in backends.values()) else 0


def _backend_line(s: BackendStatus) -> str:
    """One role's backend: ``stt     openai  http://host/v1  whisper-1  answers (12 ms)``."""
    where = f"{s.url}  " if s.url else ""
    if not s.ready:
        verdict = f"NOT READY: {s.error}"
    elif s.latency_ms is None:
        verdict = "ready"
    else:
        verdict = f"answers ({s.latency_ms:g} ms)"
    return f"{s.role:<7} {s.backend:<7} {where}{s.model}  {verdict}"
