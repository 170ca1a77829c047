"""``assistant models``: list the models, print a model's path, link the default models."""

from __future__ import annotations

import json
from pathlib import Path

import click

from assistant.catalog import ModelStore, ResolvedModel
from assistant.catalog.manifest import ROLES, configured_model
from assistant.cli.common import State
from assistant.config import Settings
from assistant.errors import ModelError
from assistant.vision import vision_models_dir
from assistant.vision.catalog import VisionFiles, pulled_models, resolve_vision
from assistant.vision.pull import preset_for, pull


@click.group()
def models() -> None:
    """Installed models and where their files are."""


def _in_use(state: State) -> tuple[Settings, ModelStore, dict[str, str]]:
    settings = state.settings()
    configured = {role: configured_model(settings, role) for role in ROLES}
    return settings, ModelStore(settings.models_dir), configured


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_models(state: State, as_json: bool) -> int:
    """Show the installed models: name, kind, size, path, source, and which role uses them."""
    settings, store, configured = _in_use(state)
    rows: list[dict[str, object]] = []
    for role in ROLES:
        for model, in_use, error in _candidates(store, role, configured[role]):
            rows.append(_row(model, role, in_use, error))
    rows.extend(_vision_rows(settings, store.models_dir))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        status = " (in use)" if r["in_use"] else ""
        size = f"{int(str(r['size'])) / 1e6:.1f} MB" if r["size"] else "-"
        problem = f"  !! {r['error']}" if r["error"] else ""
        click.echo(
            f"{r['name']:<28} {r['kind']:<6} {size:>9}  {r['path']}  "
            f"[{r['source']}]{status}{problem}"
        )
    return 0


def _candidates(
    store: ModelStore, role: str, configured: str
) -> list[tuple[ResolvedModel | None, bool, str]]:
    """Every model for a role: the default ones, plus the configured one when it is a path."""
    out: list[tuple[ResolvedModel | None, bool, str]] = []
    default_in_use = not configured
    for entry in (e for e in store.entries if e.kind == role):
        in_use = default_in_use or configured == entry.name
        try:
            out.append((store.resolve(role, entry.name), in_use, ""))
        except ModelError as exc:
            out.append(
                (
                    ResolvedModel(
                        entry.name,
                        role,
                        entry.format,
                        store.models_dir / entry.name,
                        f"package {entry.package}",
                        0,
                        entry.license,
                    ),
                    in_use,
                    str(exc),
                )
            )
    if configured and store.entry(configured) is None:
        try:
            out.append((store.resolve(role, configured), True, ""))
        except ModelError as exc:
            out.append((None, True, str(exc)))
    return out


def _row(model: ResolvedModel | None, role: str, in_use: bool, error: str) -> dict[str, object]:
    return {
        "name": model.name if model else "?",
        "kind": role,
        "format": model.format if model else "",
        "size": model.size if model else 0,
        "path": str(model.path) if model else "",
        "source": model.source if model else "path",
        "license": model.license if model else "",
        "in_use": in_use,
        "error": error,
    }


def _vision_rows(settings: Settings, models_dir: Path) -> list[dict[str, object]]:
    """Pulled vision models, and the configured one (in use) or why it cannot be used."""
    configured = settings.vision
    rows: list[dict[str, object]] = []
    in_use_found = False
    for files in pulled_models(models_dir):
        in_use = configured.model == files.name
        in_use_found |= in_use
        rows.append(_vision_row(files, in_use, ""))
    if configured.model and not in_use_found:
        try:
            rows.append(_vision_row(resolve_vision(configured, models_dir), True, ""))
        except ModelError as exc:
            rows.append(_vision_row(None, True, str(exc), configured.model))
    return rows


def _vision_row(
    files: VisionFiles | None, in_use: bool, error: str, name: str = "?"
) -> dict[str, object]:
    if files is None:
        return _row(None, "vision", in_use, error) | {"name": name, "mmproj": ""}
    size = files.model.stat().st_size + files.mmproj.stat().st_size
    model = ResolvedModel(files.name, "vision", "gguf", files.model, files.source, size, "")
    return _row(model, "vision", in_use, error) | {"mmproj": str(files.mmproj)}


@models.command("pull")
@click.argument("name_or_repo")
@click.argument("files", nargs=-1)
@click.pass_obj
def pull_model(state: State, name_or_repo: str, files: tuple[str, ...]) -> int:
    """Download a vision model: a preset NAME, or OWNER/REPO MODEL.gguf MMPROJ.gguf (online)."""
    settings = state.settings()
    preset = preset_for(name_or_repo, files)
    click.echo(f"pulling {preset.name}: {preset.about}")
    folder = pull(preset, vision_models_dir(settings))
    click.echo(f"pulled {preset.name} -> {folder}")
    click.echo(f"use it with: --set vision.model={preset.name} (or vision.model in assistant.toml)")
    return 0


@models.command("path")
@click.argument("name")
@click.pass_obj
def model_path(state: State, name: str) -> int:
    """Print the file path of model NAME, or of the model in use for a role (stt, llm, tts)."""
    _, store, configured = _in_use(state)
    if name in ROLES:
        click.echo(store.resolve(name, configured[name]).path)
        return 0
    entry = store.entry(name)
    if entry is None:
        names = ", ".join([*ROLES, *(e.name for e in store.entries)])
        raise ModelError(f"no model named {name!r}; use one of: {names}")
    click.echo(store.resolve(entry.kind, name).path)
    return 0


@models.command("link")
@click.pass_obj
def link(state: State) -> int:
    """Check the default models' sha256 and link them under models/ (run by `make setup`)."""
    _, store, _ = _in_use(state)
    for model in store.link():
        click.echo(f"linked {model.name} ({model.size / 1e6:.1f} MB) -> {model.path}")
    return 0
