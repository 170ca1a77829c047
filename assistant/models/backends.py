"""Each model role's backend as `/health`, `/metrics` and `assistant doctor` show it.

For every role (stt, tts, llm, and vision where one is configured) one ``BackendStatus``:
where it runs (``local``, ``openai``, ``wyoming``), the server's URL, the model, whether it
answers and the probe's round trip. A remote speech model answers its own ``status`` (its
model list, its info); the chat and vision servers, which speak OpenAI's API, are asked for
their model list. A local model is ready when its files are there: it is loaded on first use.
The probes run side by side, each within ``timeout_s``, so a server that is down costs one
timeout, not one per role.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import httpx

from assistant.catalog import ModelStore
from assistant.config import Settings
from assistant.errors import AssistantError, one_line
from assistant.llm.openai_wire import auth_headers
from assistant.models.remote_audio import server_stt, server_tts
from assistant.models.remote_role import BackendStatus, Remote
from assistant.vision import vision_models_dir
from assistant.vision.catalog import resolve_vision

PROBE_TIMEOUT_S = 2.0  # each probe's limit: a health check answers in about this, at worst


def backend_statuses(
    settings: Settings, remotes: Mapping[str, Remote], timeout_s: float = PROBE_TIMEOUT_S
) -> dict[str, BackendStatus]:
    """The status of each role's backend, by role; ``remotes``: remote models already made.

    Local ones are a look at their files, here; remote ones are probed side by side.
    """
    roles = configured_roles(settings)
    probed = [role for role in roles if not is_local(settings, role)]
    found = {r: _local(settings, r) for r in roles if r not in probed}
    if probed:
        with ThreadPoolExecutor(len(probed), "probe") as pool:
            asked = {
                r: pool.submit(backend_status, settings, r, remotes, timeout_s) for r in probed
            }
            found |= {role: future.result() for role, future in asked.items()}
    return {role: found[role] for role in roles}


def configured_roles(settings: Settings) -> list[str]:
    """The roles shown: stt, tts, llm, and vision where a vision model or server is set."""
    vision = settings.vision.model or settings.vision.backend != "local"
    return ["stt", "tts", "llm", *(["vision"] if vision else [])]


def is_local(settings: Settings, role: str) -> bool:
    """Whether ``role``'s model runs on this machine."""
    section: str = getattr(settings, role).backend
    return section == "local"


def backend_status(
    settings: Settings, role: str, remotes: Mapping[str, Remote], timeout_s: float
) -> BackendStatus:
    """The status of ``role``'s backend (a remote speech model not in ``remotes`` is made)."""
    backend = getattr(settings, role).backend
    if backend == "local":
        return _local(settings, role)
    try:
        if role in remotes:
            return remotes[role].status(timeout_s)
        if role in ("stt", "tts"):
            made = server_stt(settings) if role == "stt" else server_tts(settings)
            try:
                return made.status(timeout_s)
            finally:
                made.close()
        if role == "llm":
            s = settings.llm
            return probe_openai(role, s.remote_url(), s.api_key, s.remote_model, timeout_s)
        v = settings.vision
        return probe_openai(role, v.remote_url(role), v.api_key, v.remote_model, timeout_s)
    except AssistantError as exc:  # a setting missing (a URL), a model file not there
        return BackendStatus(role, backend, "", False, None, "", one_line(exc))


def probe_openai(
    role: str, url: str, api_key: str, model: str, timeout_s: float = PROBE_TIMEOUT_S
) -> BackendStatus:
    """An OpenAI-compatible server at ``url`` (its ``/v1``): ready when ``/models`` answers 200."""
    started = time.perf_counter()
    error = ""
    try:
        answer = httpx.get(f"{url}/models", headers=auth_headers(api_key), timeout=timeout_s)
        if answer.status_code != 200:
            error = f"its model list answered {answer.status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    ms = round((time.perf_counter() - started) * 1000, 1)
    return BackendStatus(role, "openai", url, not error, ms, model, error)


def _local(settings: Settings, role: str) -> BackendStatus:
    """A model on this machine: ready when its files are there."""
    try:
        if role == "vision":
            files = resolve_vision(settings.vision, vision_models_dir(settings))
            return BackendStatus(role, "local", "", True, None, files.model.name)
        entry = ModelStore(settings.models_dir).resolve(role, getattr(settings, role).model)
        return BackendStatus(role, "local", "", True, None, entry.name)
    except AssistantError as exc:  # not there, or not what the role takes
        return BackendStatus(role, "local", "", False, None, "", one_line(exc))
