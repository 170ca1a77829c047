"""The processes ``make bench-scale`` measures: `assistant serve`, and a GPU box's model servers.

The model servers run on loopback, as they would on the GPU box:
- chat: llama.cpp's own OpenAI server (``python -m llama_cpp.server``, tests/llama_server.py) on
  the chat model file the model store resolves;
- speech, ``wyoming``: wyoming-faster-whisper and wyoming-piper from .servers-venv, on the same
  model files (bench/wyoming_side.py's commands); ``openai``: a second `assistant serve`, whose
  ``/v1/audio/transcriptions`` and ``/v1/audio/speech`` answer.
``Remotes.env`` points an `assistant` at them (``ASSISTANT_*`` variables). CPU is read with
psutil: user and system seconds of each process over a wall-clock window, in cores.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import httpx
import psutil

from assistant import config
from assistant.errors import ConfigError
from assistant.models.loaders import store
from assistant.models.remote_audio import remote_stt
from assistant.models.remote_role import Remote
from bench.server import start_server, stop
from bench.wyoming_side import THEIRS, theirs, wait_ready
from tests.llama_server import llama_server
from tests.serving import free_port

REPO = Path(__file__).resolve().parents[1]
SPEECH = ("wyoming", "openai")


def cpu_seconds(process: psutil.Process) -> float:
    """User and system CPU seconds of a process so far (0 once it has gone)."""
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


class CpuMeter:
    """Cores used by named processes between ``start`` and ``stop`` (CPU seconds / wall)."""

    def __init__(self, processes: dict[str, psutil.Process]) -> None:
        self.processes = processes
        self._began = 0.0
        self._before: dict[str, float] = {}

    def start(self) -> None:
        """Begin the window."""
        self._before = {name: cpu_seconds(p) for name, p in self.processes.items()}
        self._began = time.monotonic()

    def stop(self) -> dict[str, float]:
        """Each process's cores over the window, and the wall seconds as ``wall_s``."""
        wall = time.monotonic() - self._began
        used = {n: (cpu_seconds(p) - self._before[n]) / wall for n, p in self.processes.items()}
        return used | {"wall_s": wall}


@dataclass
class Remotes:
    """The model servers running, and how an `assistant` reaches them."""

    speech: str  # wyoming or openai
    env: dict[str, str] = field(default_factory=dict)  # ASSISTANT_* settings for an assistant
    processes: dict[str, psutil.Process] = field(default_factory=dict)  # name -> server
    urls: dict[str, str] = field(default_factory=dict)  # stt, tts, llm -> where they answer
    logs: dict[str, Path] = field(default_factory=dict)  # Wyoming server -> its --debug log

    def settings(self) -> config.Settings:
        """The settings ``env`` gives (for the project's remote classes in this process)."""
        values: dict[str, dict[str, str]] = {}
        for name, value in self.env.items():
            section, _, key = name.removeprefix("ASSISTANT_").lower().partition("__")
            values.setdefault(section, {})[key] = value
        return config.load(values)

    def assignments(self) -> list[str]:
        """``env`` as ``--set`` arguments (``stt.url="tcp://..."``)."""
        out = []
        for name, value in self.env.items():
            section, _, key = name.removeprefix("ASSISTANT_").lower().partition("__")
            out.append(f"{section}.{key}={json.dumps(value)}")
        return out

    def calls(self) -> dict[str, float]:
        """Requests the speech servers have answered so far, by kind.

        The audio server's own counters (openai speech), or the lines the Wyoming servers log
        per request with ``--debug`` (they keep no counters).
        """
        if "audio-server" in self.urls:
            return self._metrics(self.urls["audio-server"])
        if not self.logs:
            return {}
        whisper = self.logs["faster-whisper"].read_text(errors="replace")
        piper = self.logs["piper"].read_text(errors="replace")
        streamed = piper.count("Text stream started")
        return {
            "transcriptions": float(whisper.count("Completed request in")),
            "speech": float(streamed or piper.count("synthesize: raw_text")),
        }

    @staticmethod
    def _metrics(url: str) -> dict[str, float]:
        text = httpx.get(f"{url}/metrics", timeout=10).text
        counts: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("assistant_requests_total{") and "/v1/audio/" in line:
                endpoint = line.split('endpoint="', 1)[1].split('"', 1)[0].rsplit("/", 1)[-1]
                counts[endpoint] = counts.get(endpoint, 0.0) + float(line.rsplit(" ", 1)[1])
        return counts


def assistant(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, psutil.Process]:
    """`assistant serve` with ``env`` added, once it answers; its process for CPU."""
    process, url = start_server(env)
    return process, url, psutil.Process(process.pid)


def listening(url: str) -> psutil.Process:
    """The process that listens on ``url``'s port (one started here), for its CPU."""
    port = urlsplit(url).port
    for connection in psutil.net_connections("tcp"):
        listens = connection.status == psutil.CONN_LISTEN and connection.laddr.port == port
        if listens and connection.pid:
            return psutil.Process(connection.pid)
    raise SystemExit(f"nothing listens on {url}")


def _wyoming(started: list[subprocess.Popen[bytes]], remotes: Remotes, logs: Path) -> None:
    """wyoming-faster-whisper and wyoming-piper on free ports."""
    import asyncio

    if not THEIRS.exists():
        raise SystemExit(f"{THEIRS} is missing: `make .servers-venv/bin/python` installs it")
    settings = config.load()
    ports = {"faster-whisper": free_port(), "piper": free_port()}
    for name, command in theirs(settings, ports).items():
        # --debug: a line per request, which is how their calls are counted
        remotes.logs[name] = logs / f"{name}.log"
        with remotes.logs[name].open("wb") as log:
            process = subprocess.Popen(
                [*command, "--debug"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=log
            )
        started.append(process)
        remotes.processes[name] = psutil.Process(process.pid)
    for port in ports.values():
        asyncio.run(wait_ready(port))
    voice = store(settings).resolve("tts", settings.tts.model).path.stem
    remotes.urls |= {
        "stt": f"tcp://127.0.0.1:{ports['faster-whisper']}",
        "tts": f"tcp://127.0.0.1:{ports['piper']}",
    }
    remotes.env |= {"ASSISTANT_TTS__VOICE": voice}


def _audio_server(started: list[subprocess.Popen[bytes]], remotes: Remotes, logs: Path) -> None:
    """A second `assistant serve`, its local Whisper and Piper behind /v1/audio/*.

    It counts its requests itself (/metrics): ``logs`` is not needed.
    """
    process, url, proc = assistant({})
    started.append(process)
    remotes.processes["audio-server"] = proc
    remotes.urls |= {"stt": f"{url}/v1", "tts": f"{url}/v1", "audio-server": url}


@contextlib.contextmanager
def remotes(speech: str) -> Iterator[Remotes]:
    """Every model on a loopback server for the length of a block; all stopped after."""
    if speech not in SPEECH:
        raise SystemExit(f"--speech must be one of {', '.join(SPEECH)}, not {speech!r}")
    found = Remotes(speech)
    with contextlib.ExitStack() as stack:
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-scale-")))
        llm_url = stack.enter_context(llama_server(store(config.load()).resolve("llm").path))
        found.processes["llama.cpp"] = listening(llm_url)
        started: list[subprocess.Popen[bytes]] = []
        stack.callback(_stop_all, started)
        (_wyoming if speech == "wyoming" else _audio_server)(started, found, logs)
        found.urls["llm"] = llm_url
        found.env |= {
            "ASSISTANT_LLM__BACKEND": "openai",
            "ASSISTANT_LLM__BASE_URL": llm_url,
            "ASSISTANT_STT__BACKEND": speech,
            "ASSISTANT_STT__URL": found.urls["stt"],
            "ASSISTANT_TTS__BACKEND": speech,
            "ASSISTANT_TTS__URL": found.urls["tts"],
        }
        yield found


def _stop_all(started: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(started):
        stop_quietly(process)


def stop_quietly(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started here, killing it when it does not stop in time."""
    try:
        stop(process)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wyoming_offered() -> bool:
    """Whether this checkout has the Wyoming speech backend (the default ``--speech`` then).

    Asked of the backends' own dispatch, which refuses a kind it does not know; the model is
    made (it connects on its first call) and closed again.
    """
    settings = config.load({"stt": {"backend": "wyoming", "url": "tcp://127.0.0.1:9"}})
    try:
        model = remote_stt(settings)
    except ConfigError:
        return False
    cast(Remote, model).close()
    return True
