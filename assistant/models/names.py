"""Which chat models a client may load: catalog names and GGUF files inside the models folders.

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
from assistant.config import Settings
from assistant.errors import ModelError

NOT_OFFERED = (
    "no chat model by that name; load a name from `assistant models list`, or a .gguf file "
    "inside the models folder (server.model_dirs adds folders)"
)


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
