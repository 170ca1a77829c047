"""``assistant models pull / show / rm / use``: catalog models for every role.

``use`` writes the user's ``assistant.toml`` (or the file given with ``--config``) with
tomlkit, which keeps the file's comments and layout: only the one key changes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import click
from platformdirs import user_config_dir

from assistant.catalog import ModelStore
from assistant.catalog.describe import describe
from assistant.catalog.manifest import repo_models_dir
from assistant.catalog.presets import ROLE_KEYS, Preset, find, lookup
from assistant.catalog.pull import pull
from assistant.cli.common import State
from assistant.config import CONFIG_NAME, Settings
from assistant.errors import ModelError
from assistant.vision.pull import preset_for
from assistant.vision.pull import pull as pull_vision


def models_dir(settings: Settings) -> Path:
    """Where pulled models live."""
    return Path(settings.models_dir or repo_models_dir())


def in_use(preset: Preset, settings: Settings) -> bool:
    """Whether the settings choose ``preset`` for its role (by name or alias)."""
    chosen = getattr(settings, ROLE_KEYS[preset.role]).model
    return bool(chosen) and find(chosen, preset.role) == preset


def _emit(as_json: bool, data: dict[str, Any], lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        for line in lines:
            click.echo(line)


@click.command("pull")
@click.argument("name_or_repo")
@click.argument("files", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def pull_model(state: State, name_or_repo: str, files: tuple[str, ...], as_json: bool) -> int:
    """Download a model of the catalog by NAME (or alias, e.g. qwen2.5:1.5b), online.

    A vision model may also be OWNER/REPO MODEL.gguf MMPROJ.gguf.
    """
    settings = state.settings()
    folder_root = models_dir(settings)
    if files:
        custom = preset_for(name_or_repo, files)
        folder = pull_vision(custom, folder_root)
        _emit(as_json, {"name": custom.name, "role": "vision", "path": str(folder)},
              [f"pulled {custom.name} -> {folder}"])  # fmt: skip
        return 0
    preset = lookup(name_or_repo)
    if not as_json:
        terms = preset.license if preset.commercial else f"{preset.license}, not for commercial use"
        click.echo(f"pulling {preset.name} ({preset.size_mb} MB, {terms}): {preset.good_for}")
    folder = pull(preset, folder_root)
    data = {"name": preset.name, "role": preset.role, "path": str(folder),
            "settings_key": preset.settings_key}  # fmt: skip
    _emit(as_json, data, [f"pulled {preset.name} -> {folder}",
                          f"use it with: assistant models use {preset.name}"])  # fmt: skip
    return 0


@click.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def show_model(state: State, name: str, as_json: bool) -> int:
    """What the catalog and the model's own files say about NAME."""
    settings = state.settings()
    preset = lookup(name)
    info = describe(preset, models_dir(settings)) | {"in_use": in_use(preset, settings)}
    width = max(len(k) for k in info)
    _emit(as_json, info, [f"{k:<{width}}  {v}" for k, v in info.items()])
    return 0


@click.command("rm")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def remove_model(state: State, name: str, as_json: bool) -> int:
    """Delete a pulled model's files (refused while the settings use it)."""
    settings = state.settings()
    preset = lookup(name)
    if in_use(preset, settings):
        raise ModelError(
            f"{preset.name} is in use ({preset.settings_key}); choose another model with "
            f"`assistant models use NAME` first"
        )
    folder = preset.folder(models_dir(settings))
    if not folder.exists():
        raise ModelError(f"{preset.name} is not pulled; nothing to remove")
    shutil.rmtree(folder)
    _emit(as_json, {"name": preset.name, "removed": str(folder)}, [f"removed {folder}"])
    return 0


@click.command("use")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def use_model(state: State, name: str, as_json: bool) -> int:
    """Make NAME the model of its role in assistant.toml (comments and layout kept)."""
    settings = state.settings()
    default = ModelStore(settings.models_dir).entry(name)
    if default is not None and default.kind in ("stt", "llm", "tts"):  # back to a default model
        setting, chosen = f"{default.kind}.model", default.name
    else:
        preset = lookup(name)
        if not preset.pulled(models_dir(settings)):
            raise ModelError(f"{preset.name} is not pulled yet; run `assistant models pull {name}`")
        setting, chosen = preset.settings_key, preset.name
    path = Path(state.config_file) if state.config_file else _user_config()
    section, key = setting.split(".")
    write_setting(path, section, key, chosen)
    _emit(as_json, {"name": chosen, "setting": setting, "file": str(path)},
          [f"{setting} = {chosen!r} in {path}"])  # fmt: skip
    return 0


def _user_config() -> Path:
    return Path(user_config_dir("assistant")) / CONFIG_NAME


def write_setting(path: Path, section: str, key: str, value: str) -> None:
    """Set ``[section] key = value`` in a TOML file, keeping everything else as it was."""
    import tomlkit

    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else None
    except tomlkit.exceptions.ParseError as exc:
        raise ModelError(f"{path} is not valid TOML ({exc}); fix it first") from None
    document = document if document is not None else tomlkit.document()
    table = document.get(section)
    if table is None:
        table = tomlkit.table()
        document[section] = table
    table[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(tomlkit.dumps(document), encoding="utf-8")
    temporary.replace(path)  # never a half-written settings file
