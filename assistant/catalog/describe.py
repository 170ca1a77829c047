"""What a pulled model says about itself.

A GGUF's name, context length and chat template; a Piper voice's language and rate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant.catalog.presets import Preset


def describe(preset: Preset, models_dir: Path) -> dict[str, Any]:
    """The preset's catalog entry, and what its files say once pulled."""
    info: dict[str, Any] = {
        "name": preset.name,
        "role": preset.role,
        "aliases": list(preset.aliases),
        "repo": preset.repo,
        "revision": preset.revision or "main (not pinned)",
        "files": list(preset.files),
        "size_mb": preset.size_mb,
        "ram_gb": preset.ram_gb,
        "license": preset.license,
        "commercial_use": preset.commercial,
        **({"license_note": preset.license_note} if preset.license_note else {}),
        "good_for": preset.good_for,
        "settings_key": preset.settings_key,
        "pulled": preset.pulled(models_dir),
        "path": str(preset.entry_path(models_dir)),
    }
    if preset.bytes is not None:
        info["bytes"] = preset.bytes
    if preset.languages:
        info["languages"] = list(preset.languages)
    if info["pulled"]:
        info.update(_from_files(preset, models_dir))
    return info


def _from_files(preset: Preset, models_dir: Path) -> dict[str, Any]:
    path = preset.entry_path(models_dir)
    if preset.role in ("chat", "vision"):
        return gguf_facts(path)
    if preset.role == "tts":
        config = json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
        language = config.get("language", {}).get("code", "")
        return {"language": language, "sample_rate": config.get("audio", {}).get("sample_rate")}
    return {}


def gguf_facts(path: Path) -> dict[str, Any]:
    """A GGUF's own name, architecture, context length and whether it has a chat template."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))

    def value(key: str) -> Any:
        field = reader.fields.get(key)
        return field.contents() if field is not None else None

    architecture = value("general.architecture") or ""
    return {
        "model_name": value("general.name"),
        "architecture": architecture,
        "context_length": value(f"{architecture}.context_length"),
        "chat_template": value("tokenizer.chat_template") is not None,
    }
