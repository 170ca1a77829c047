"""``assistant models``: list the models, print a model's path, link the default models."""

from __future__ import annotations

import json
from pathlib import Path

import click

from assistant.catalog import ModelStore, ResolvedModel
from assistant.catalog.manifest import ROLES, configured_model
from assistant.catalog.presets import find, presets
from assistant.cli.common import State
from assistant.cli.models_catalog import in_use, pull_model, remove_model, show_model, use_model
from assistant.config import Settings
from assistant.errors import ModelError
from assistant.vision.catalog import VisionFiles, pulled_models, resolve_vision


@click.group()
def models() -> None:
    """Installed models and where their files are."""


def _in_use(state: State) -> tuple[Settings, ModelStore, dict[str, str]]:
    settings = state.settings()
    configured = {role: configured_model(settings, role) for role in ROLES}
    return settings, ModelStore(settings.models_dir), configured


for command in (pull_model, show_model, remove_model, use_model):
    models.add_command(command)


@models.command("list")
@click.option("--available", is_flag=True, help="The catalog: every model `pull` knows.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_models(state: State, available: bool, as_json: bool) -> int:
    """Show the installed models: name, kind, size, path, source, and which role uses them."""
    settings, store, configured = _in_use(state)
    if available:
        return _list_available(settings, store.models_dir, as_json)
    rows: list[dict[str, object]] = []
    for role in ROLES:
        for model, used, error in _candidates(store, role, configured[role]):
            rows.append(_row(model, role, used, error))
    rows.extend(_pulled_rows(settings, store))
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
    if configured and store.entry(configured) is None and not _is_preset(configured, role):
        try:
            out.append((store.resolve(role, configured), True, ""))
        except ModelError as exc:
            out.append((None, True, str(exc)))
    return out


def _is_preset(name: str, role: str) -> bool:
    from assistant.catalog.presets import ROLE_OF_SECTION, find

    return find(name, ROLE_OF_SECTION.get(role, role)) is not None


def _pulled_rows(settings: Settings, store: ModelStore) -> list[dict[str, object]]:
    """Catalog models pulled for chat, speech and voices (vision ones are listed apart)."""
    rows = []
    for preset in presets():
        if preset.role == "vision" or not preset.pulled(store.models_dir):
            continue
        section = {"chat": "llm"}.get(preset.role, preset.role)
        model = store.resolve(section, preset.name)
        rows.append(_row(model, section, in_use(preset, settings), ""))
    return rows


def _list_available(settings: Settings, models_dir: Path, as_json: bool) -> int:
    rows = [
        {
            "name": p.name,
            "role": p.role,
            "aliases": list(p.aliases),
            "size_mb": p.size_mb,
            "ram_gb": p.ram_gb,
            "license": p.license,
            "commercial_use": p.commercial,
            "good_for": p.good_for,
            "installed": p.pulled(models_dir),
            "in_use": in_use(p, settings),
        }
        for p in presets()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        mark = "in use" if r["in_use"] else "installed" if r["installed"] else ""
        terms = f"{r['license']}{'' if r['commercial_use'] else ' [NC]'}"
        click.echo(
            f"{r['name']:<28} {r['role']:<6} {r['size_mb']:>6} MB {r['ram_gb']:>4} GB RAM  "
            f"{mark:<9}  {terms:<24}  {r['good_for']}"
        )
    click.echo("[NC]: not for commercial use; `assistant models show NAME` says why")
    return 0


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


@models.command("path")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def model_path(state: State, name: str, as_json: bool) -> int:
    """Print the file path of model NAME, or of the model in use for a role (stt, llm, tts)."""
    _, store, configured = _in_use(state)
    if name in ROLES:
        path = store.resolve(name, configured[name]).path
    elif (entry := store.entry(name)) is not None:
        path = store.resolve(entry.kind, name).path
    elif (preset := find(name)) is not None and preset.role != "vision":
        path = store.resolve({"chat": "llm"}.get(preset.role, preset.role), name).path
    else:
        names = ", ".join([*ROLES, *(e.name for e in store.entries)])
        raise ModelError(f"no model named {name!r}; use one of: {names}, or a pulled model")
    click.echo(json.dumps({"name": name, "path": str(path)}) if as_json else path)
    return 0


@models.command("link")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def link(state: State, as_json: bool) -> int:
    """Check the default models' sha256 and link them under models/ (run by `make setup`)."""
    _, store, _ = _in_use(state)
    linked = store.link()
    if as_json:
        rows = [{"name": m.name, "size": m.size, "path": str(m.path)} for m in linked]
        click.echo(json.dumps(rows, indent=2))
    for model in [] if as_json else linked:
        click.echo(f"linked {model.name} ({model.size / 1e6:.1f} MB) -> {model.path}")
    return 0
