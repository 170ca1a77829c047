"""Finds model files (configured path, ``models/`` link or package), links and verifies them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from assistant.catalog.manifest import ROLES, ManifestEntry, load_manifest, repo_models_dir
from assistant.catalog.presets import ROLE_KEYS, ROLE_OF_SECTION, Preset, find
from assistant.errors import ModelError

_FORMATS = {"stt": "ctranslate2", "llm": "gguf", "tts": "piper", "turn": "onnx", "vision": "gguf"}
_SETUP_FIX = "run `make setup` (or `assistant models link`) to install the default models"


@dataclass(frozen=True)
class ResolvedModel:
    """A model whose files were found on disk."""

    name: str
    kind: str
    format: str
    path: Path  # what the loader opens: a file, or a folder for CTranslate2
    source: str  # "package <dist>" or "path"
    size: int  # bytes, all files together
    license: str = ""


class ModelStore:
    """The default models of the manifest and any model configured by path."""

    def __init__(self, models_dir: Path | None = None) -> None:
        self.models_dir = models_dir or repo_models_dir()
        self.entries = load_manifest()

    def entry(self, name_or_role: str) -> ManifestEntry | None:
        """The manifest entry with this name, or the default one for this role."""
        for e in self.entries:
            if e.name == name_or_role:
                return e
        if name_or_role in ROLES:
            return next((e for e in self.entries if e.kind == name_or_role), None)
        return None

    def resolve(self, role: str, configured: str = "") -> ResolvedModel:
        """The model for a role; empty ``configured`` = the default.

        ``configured`` is a manifest name, a catalog preset pulled with `assistant models pull`
        (by name or alias), or a path.
        """
        if configured and self.entry(configured) is None:
            preset = find(configured, ROLE_OF_SECTION.get(role, role))
            if preset is not None:
                return self._resolve_pulled(preset)
            return _resolve_path(role, Path(configured).expanduser())
        entry = self.entry(configured or role)
        if entry is None:
            raise ModelError(f"no default {role} model in the manifest; set {role}.model to a path")
        return self._resolve_entry(entry)

    def _resolve_pulled(self, preset: Preset) -> ResolvedModel:
        if not preset.pulled(self.models_dir):
            raise ModelError(
                f"model {preset.name} is not pulled yet; run `assistant models pull {preset.name}`"
            )
        path = preset.entry_path(self.models_dir)
        return ResolvedModel(
            name=preset.name,
            kind=ROLE_KEYS[preset.role],
            format=_FORMATS.get(ROLE_KEYS[preset.role], ""),
            path=path,
            source=f"pulled {preset.repo}",
            size=file_size(preset.folder(self.models_dir)),
            license=preset.license,
        )

    def _resolve_entry(self, entry: ManifestEntry) -> ResolvedModel:
        linked = self.models_dir / entry.name
        folder = linked if linked.is_dir() else _package_folder(entry)
        for f in entry.files:
            file = folder / f.path
            if not file.is_file():
                raise ModelError(f"model file {file} is missing; {_SETUP_FIX}")
            if file.stat().st_size != f.size:
                raise ModelError(
                    f"model file {file} is corrupt (size {file.stat().st_size}, "
                    f"expected {f.size}); "
                    f"{_SETUP_FIX}"
                )
        return ResolvedModel(
            name=entry.name,
            kind=entry.kind,
            format=entry.format,
            path=folder if entry.entry == "." else folder / entry.entry,
            source=f"package {entry.package}",
            size=sum(f.size for f in entry.files),
            license=entry.license,
        )

    def link(self) -> list[ResolvedModel]:
        """Verify every default model's sha256 and link its files under ``models/<name>/``."""
        linked = []
        for entry in self.entries:
            folder = _package_folder(entry)
            target = self.models_dir / entry.name
            target.mkdir(parents=True, exist_ok=True)
            for f in entry.files:
                src = folder / f.path
                _verify(src, f.sha256)
                link = target / f.path
                if link.is_symlink() or link.exists():
                    link.unlink()
                link.symlink_to(src)
            linked.append(self._resolve_entry(entry))
        return linked


def _package_folder(entry: ManifestEntry) -> Path:
    try:
        dist = metadata.distribution(entry.package)
    except metadata.PackageNotFoundError:
        raise ModelError(
            f"model {entry.name} is not installed (package {entry.package} is missing); "
            f"{_SETUP_FIX}"
        ) from None
    return Path(str(dist.locate_file(entry.source)))


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read a megabyte at a time (model files are gigabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, sha256: str) -> None:
    if not path.is_file():
        raise ModelError(f"model file {path} is missing; {_SETUP_FIX}")
    if sha256_file(path) != sha256:
        raise ModelError(
            f"model file {path} is corrupt (sha256 mismatch); reinstall its package with "
            "`make clean setup`"
        )


def _resolve_path(role: str, path: Path) -> ResolvedModel:
    if not path.exists():
        raise ModelError(
            f"{role} model {path} not found; fix {role}.model (a path or one of the names in "
            "`assistant models list`)"
        )
    fmt = _FORMATS.get(role, "")
    return ResolvedModel(path.name, role, fmt, path.resolve(), "path", file_size(path))


def file_size(path: Path) -> int:
    """Size in bytes of a file, or of everything inside a folder."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
