"""Downloads a vision model from Hugging Face (the only step of the project that goes online).

huggingface_hub does the transfer, with a progress bar, into a hidden ``.download`` folder
beside the model (where an interrupted download resumes from; no second copy in a cache). Each
file's SHA-256 is then checked against the one the hub publishes for it, and only a verified
file is moved into ``models/vision/NAME/``. Offline, the command fails with one line that says
so and how to install the files by hand.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from assistant.catalog.hub import online
from assistant.catalog.store import sha256_file
from assistant.errors import ModelError
from assistant.vision.catalog import PRESETS, Preset, vision_dir

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def preset_for(name_or_repo: str, files: tuple[str, ...]) -> Preset:
    """A named preset, or a repository and its model [+ mmproj] file names."""
    if not files:
        preset = PRESETS.get(name_or_repo)
        if preset is None:
            names = ", ".join(PRESETS)
            raise ModelError(
                f"no preset named {name_or_repo!r}; use one of {names}, or give a repository "
                "and its files: `assistant models pull OWNER/REPO MODEL.gguf MMPROJ.gguf`"
            )
        return preset
    if "/" not in name_or_repo or len(files) != 2:
        raise ModelError("give a repository (OWNER/REPO), its model file and its mmproj file")
    name = name_or_repo.split("/")[-1].lower().removesuffix("-gguf")
    return Preset(name, name_or_repo, files[0], files[1], name_or_repo)


def pull(preset: Preset, models_dir: Path) -> Path:
    """Fetch and verify both files of ``preset``; returns the folder they are in."""
    target = vision_dir(models_dir) / preset.name
    staging = target / ".download"
    for filename in (preset.model, preset.mmproj):
        final = target / Path(filename).name  # a file in a repository subfolder lands flat
        if final.is_file():
            continue
        fetched, expected = _download(preset.repo, filename, staging)
        _verify(fetched, expected, filename)
        fetched.replace(final)
    shutil.rmtree(staging, ignore_errors=True)
    return target


def _download(repo: str, filename: str, folder: Path) -> tuple[Path, str | None]:
    """The file fetched into ``folder`` and the SHA-256 the hub gives (None for small files)."""
    import huggingface_hub as hub
    from huggingface_hub import errors

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(
            f"cannot write to {folder} ({exc.strerror}); set models_dir to a folder you can write"
        ) from None
    try:
        with online():
            meta = hub.get_hf_file_metadata(hub.hf_hub_url(repo, filename))
            path = hub.hf_hub_download(repo, filename, local_dir=folder)
    except (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled) as exc:
        raise ModelError(_offline(repo, filename, exc)) from None  # before its parent class
    except errors.GatedRepoError:  # before its parent class, RepositoryNotFoundError
        raise ModelError(
            f"{repo} is gated: accept its terms on huggingface.co, log in with "
            "`hf auth login` (huggingface_hub's CLI), and pull again"
        ) from None
    except (errors.RepositoryNotFoundError, errors.EntryNotFoundError):
        raise ModelError(f"{repo}/{filename} does not exist on the hub; check the names") from None
    except Exception as exc:  # HTTP status and transport errors (httpx or httpx2, by version)
        raise ModelError(_offline(repo, filename, exc)) from None
    etag = (meta.etag or "").strip('"').removeprefix("W/").strip('"')
    return Path(path), etag if _SHA256.match(etag) else None


def _offline(repo: str, filename: str, exc: Exception) -> str:
    reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
    return (
        f"cannot download {repo}/{filename}: the Hugging Face hub is unreachable ({reason}); "
        "connect to the internet and retry, or copy the GGUF files in by hand and set "
        "vision.model / vision.mmproj to them"
    )


def _verify(path: Path, expected: str | None, filename: str) -> None:
    if expected is None:
        return
    if sha256_file(path) != expected:
        path.unlink(missing_ok=True)
        raise ModelError(f"{filename} failed its SHA-256 check (download damaged); pull again")
