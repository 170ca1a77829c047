"""Which chat models a client may load: catalog names and GGUF files inside the models folders.

A catalog name that is not pulled yet is a 404 that says how to pull it.

``POST /api/models/load`` is reachable by every local program, so it must not become a way to
open arbitrary files: a name from the manifest, the configured ``llm.model``, or a ``.gguf``
file inside the models folder (``models_dir``) or a folder of ``server.model_dirs`` is loaded;
anything else is refused with one message that neither echoes the path nor says whether such a
file exists. Paths are judged as written (normalised, ``..`` collapsed), before symbolic links
are followed, because the models folder links into installed packages by design.
"""

from __future__ import annotations

import os
from pathlib import Path

from assistant.catalog import ModelStore
from assistant.catalog.manifest import repo_models_dir
from assistant.catalog.presets import find, presets
from assistant.config import Settings
from assistant.errors import ModelError

NOT_OFFERED = (
    "no chat model by that name; load a name from `assistant models list`, or a .gguf file "
    "inside the models folder (server.model_dirs adds folders)"
)


def offered_chat_models(settings: Settings) -> list[str]:
    """The chat models a client may load by name: the default ones and the pulled ones."""
    store = ModelStore(settings.models_dir)
    names = [e.name for e in store.entries if e.kind == "llm"]
    names += [p.name for p in presets() if p.role == "chat" and p.pulled(store.models_dir)]
    if settings.llm.model and settings.llm.model not in names:
        names.append(settings.llm.model)
    return names


def model_folders(settings: Settings) -> list[Path]:
    """The folders whose GGUF files a client may load."""
    base = Path(settings.models_dir or repo_models_dir())
    return [_absolute(base), *(_absolute(Path(d).expanduser()) for d in settings.server.model_dirs)]


def chat_model_path(settings: Settings, name: str) -> Path:
    """The file to load for ``name``; ModelError (without the path) for anything not offered."""
    store = ModelStore(settings.models_dir)
    entry = store.entry(name)
    if entry is not None and entry.kind == "llm":
        return store.resolve("llm", name).path
    preset = find(name, "chat")
    if preset is not None:  # a catalog name: pulled, or how to pull it
        if not preset.pulled(store.models_dir):
            raise ModelError(
                f"chat model {preset.name} is not pulled; pull it with "
                f"`assistant models pull {preset.name}`"
            )
        return preset.entry_path(store.models_dir)
    if name == settings.llm.model and name:  # the operator's own choice
        return store.resolve("llm", name).path
    folders = model_folders(settings)
    given = Path(name).expanduser()
    candidates = [given] if given.is_absolute() else [f / given for f in folders]
    for candidate in map(_absolute, candidates):
        inside = any(_within(candidate, folder) for folder in folders)
        if inside and candidate.suffix.lower() == ".gguf" and candidate.is_file():
            return candidate
    raise ModelError(NOT_OFFERED)


def _absolute(path: Path) -> Path:
    """``path`` made absolute with ``..`` collapsed, symbolic links left as they are."""
    return Path(os.path.normpath(Path.cwd() / path))  # not resolve(): links stay


def _within(path: Path, folder: Path) -> bool:
    return path != folder and path.is_relative_to(folder)
