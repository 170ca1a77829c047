"""Downloads a catalog model from Hugging Face (the only step of the project that goes online).

huggingface_hub does the transfer of the files at the commit the catalog pins (so a repository
rewritten upstream cannot change what a name means), with a progress bar, into a hidden
``.download`` folder inside the model's folder; an interrupted download (a dropped connection,
Ctrl+C) resumes from there, with an HTTP range request, on the next pull. Each file's SHA-256
is checked against the one the hub publishes for it, and only a verified file is moved into
place, so a model folder never holds a damaged or half-written file. Offline, the command fails
with one line that says so.
"""

from __future__ import annotations

import contextlib
import errno
import re
import shutil
from pathlib import Path

from assistant.catalog.hub import online
from assistant.catalog.presets import Preset
from assistant.catalog.store import sha256_file
from assistant.errors import ModelError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def pull(preset: Preset, models_dir: Path) -> Path:
    """Fetch and verify every file of ``preset``; returns the folder they are in."""
    target = preset.folder(models_dir)
    staging = target / ".download"
    try:
        for filename in preset.files:
            final = target / Path(filename).name  # a file in a repository subfolder lands flat
            if final.is_file():
                continue
            fetched, expected = download(preset.repo, filename, staging, preset.revision)
            _verify(fetched, expected, filename)
            fetched.replace(final)
    except BaseException:
        _drop_empty(target)  # a partial file stays, for the next pull to resume
        with contextlib.suppress(OSError):  # the role's folder, if nothing else is in it
            target.parent.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return target


def _drop_empty(folder: Path) -> None:
    """Remove the folders under (and with) ``folder`` that hold no file."""
    if not folder.is_dir():
        return
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        if not any(sub.iterdir()):
            sub.rmdir()
    if not any(folder.iterdir()):
        folder.rmdir()


def download(
    repo: str, filename: str, folder: Path, revision: str | None = None
) -> tuple[Path, str | None]:
    """The file (at commit ``revision``, else main) fetched into ``folder``, and its SHA-256.

    The SHA-256 is the one the hub publishes for the file (None for small, non-LFS files).
    """
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
            meta = hub.get_hf_file_metadata(hub.hf_hub_url(repo, filename, revision=revision))
            path = hub.hf_hub_download(repo, filename, revision=revision, local_dir=folder)
    except (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled) as exc:
        raise ModelError(_offline(repo, filename, exc)) from None  # before its parent class
    except errors.GatedRepoError:  # before its parent class, RepositoryNotFoundError
        raise ModelError(
            f"{repo} is gated: accept its terms on huggingface.co, log in with "
            "`hf auth login` (huggingface_hub's CLI), and pull again"
        ) from None
    except errors.RevisionNotFoundError:
        raise ModelError(
            f"{repo} no longer has the commit {revision} this catalog pins (the repository was "
            "rewritten); update assistant, or download the files yourself and set the model's "
            "path in assistant.toml"
        ) from None
    except (errors.RepositoryNotFoundError, errors.EntryNotFoundError):
        raise ModelError(f"{repo}/{filename} does not exist on the hub; check the names") from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise ModelError(
                f"no space left on the disk of {folder} while downloading {filename}; free some "
                "space and pull again (what was downloaded is kept and the pull resumes)"
            ) from None
        raise ModelError(_offline(repo, filename, exc)) from None
    except Exception as exc:  # HTTP status and transport errors (httpx or httpx2, by version)
        raise ModelError(_offline(repo, filename, exc)) from None
    etag = (meta.etag or "").strip('"').removeprefix("W/").strip('"')
    return Path(path), etag if _SHA256.match(etag) else None


def _offline(repo: str, filename: str, exc: Exception) -> str:
    reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
    return (
        f"cannot download {repo}/{filename}: the Hugging Face hub is unreachable ({reason}); "
        "connect to the internet and pull again, or copy the files in by hand and set the "
        "model's path in assistant.toml"
    )


def _verify(path: Path, expected: str | None, filename: str) -> None:
    if expected is None:
        return
    if sha256_file(path) != expected:
        path.unlink(missing_ok=True)
        raise ModelError(f"{filename} failed its SHA-256 check (download damaged); pull again")
