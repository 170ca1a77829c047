"""The catalog of models `assistant models pull` knows (``presets.toml``, a data file).

Every role has presets: chat models (``llm.model``), speech-to-text (``stt.model``), voices
(``tts.model``) and vision models (``vision.model``). A preset is found by its name or by
one of its aliases (Ollama-style ``qwen2.5:1.5b``, ``piper:de_DE-thorsten-medium``). Pulled
files land flat in ``models/<role>/<name>/``.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import ModelError

ROLE_KEYS = {"chat": "llm", "stt": "stt", "tts": "tts", "vision": "vision"}  # settings section
ROLE_OF_SECTION = {section: role for role, section in ROLE_KEYS.items()}

# Every licence a preset may name: SPDX ids, or the name of a model's own terms.
LICENSES = frozenset(
    {
        "Apache-2.0", "MIT", "CC0-1.0", "CC-BY-4.0", "CC-BY-SA-4.0",  # SPDX
        "Gemma", "Llama 3.2 Community", "Qwen Research",  # a model maker's own terms
        "Blizzard 2013",  # the Lessac dataset's research-only licence (CSTR, Edinburgh)
        "M-AILABS",  # the M-AILABS speech dataset's BSD-style licence
        "All Rights Reserved",  # no licence granted at all
        "unknown",  # the source does not say
    }
)  # fmt: skip
# Licences whose own terms rule out commercial use (or grant nothing to rely on).
NOT_COMMERCIAL = frozenset({"Qwen Research", "Blizzard 2013", "All Rights Reserved", "unknown"})


@dataclass(frozen=True)
class Preset:
    """A published model: where it comes from, what it is, and what it needs."""

    name: str
    role: str  # chat | stt | tts | vision
    repo: str
    files: tuple[str, ...]  # paths in the repository
    entry: str  # what a loader opens, in the model's folder ("." = the folder)
    size_mb: int  # megabytes (10**6 bytes), all files together
    license: str  # one of LICENSES
    ram_gb: float
    good_for: str
    aliases: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()  # stt: "multilingual" or codes; tts: the voice's language
    revision: str | None = None  # the pinned commit; None: the branch main
    license_note: str = ""  # what the licence alone does not say (terms inherited from a base)
    commercial: bool = True  # False: not for commercial use
    bytes: int | None = None  # the exact size, where it was published

    @property
    def settings_key(self) -> str:
        """The setting that selects it: llm.model, stt.model, tts.model or vision.model."""
        return f"{ROLE_KEYS[self.role]}.model"

    def folder(self, models_dir: Path) -> Path:
        """Where its files are once pulled."""
        return models_dir / self.role / self.name

    def entry_path(self, models_dir: Path) -> Path:
        """The file (or folder) a loader opens."""
        folder = self.folder(models_dir)
        return folder if self.entry == "." else folder / self.entry

    def pulled(self, models_dir: Path) -> bool:
        """Whether every file is in place (an interrupted pull is not)."""
        folder = self.folder(models_dir)
        return all((folder / Path(f).name).is_file() for f in self.files)


@functools.cache
def presets() -> tuple[Preset, ...]:
    """Every preset of the catalog, in its order."""
    data = tomllib.loads((Path(__file__).parent / "presets.toml").read_text(encoding="utf-8"))
    return tuple(_preset(entry) for entry in data["preset"])


def _preset(entry: dict[str, Any]) -> Preset:
    files = tuple(entry["files"])
    return Preset(
        name=entry["name"],
        role=entry["role"],
        repo=entry["repo"],
        files=files,
        entry=entry.get("entry", Path(files[0]).name),
        size_mb=int(entry["size_mb"]),
        license=entry["license"],
        ram_gb=float(entry["ram_gb"]),
        good_for=entry["good_for"],
        aliases=tuple(entry.get("aliases", ())),
        languages=tuple(entry.get("languages", ())),
        revision=entry.get("revision"),
        license_note=entry.get("license_note", ""),
        commercial=bool(entry.get("commercial", True)),
        bytes=entry.get("bytes"),
    )


def find(name: str, role: str | None = None) -> Preset | None:
    """The preset called ``name`` (or with that alias), of ``role`` if given."""
    wanted = name.strip().lower()
    for preset in presets():
        if role is not None and preset.role != role:
            continue
        if wanted == preset.name.lower() or wanted in (a.lower() for a in preset.aliases):
            return preset
    return None


def lookup(name: str) -> Preset:
    """The preset ``name``; ModelError listing close names when there is none."""
    preset = find(name)
    if preset is None:
        stem = name.split(":")[0].split("-")[0].lower()
        close = [p.name for p in presets() if p.name.lower().startswith(stem)][:6]
        hint = f" (close: {', '.join(close)})" if close else ""
        raise ModelError(
            f"no model called {name!r} in the catalog{hint}; see `assistant models list "
            "--available`"
        )
    return preset
