"""Shared fixtures: the real default models, loaded once, spoken test questions, real servers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from assistant import config
from assistant.models.loaders import Models, load_models
from assistant.models.piper import PiperTTS
from assistant.models.whisper import WhisperSTT
from tests import media
from tests.pulse import PulseServer

if TYPE_CHECKING:
    from tests.hostile import LoggedServer

REPO = Path(__file__).resolve().parents[1]
ASSISTANT = [sys.executable, "-m", "assistant"]


def pytest_configure(config: pytest.Config) -> None:
    """Deliver SIGINT to the commands under test even when the suite runs from a background job.

    A shell starts a background job with SIGINT ignored, and every child inherits that, so the
    Ctrl+C tests would wait for a command that never hears it. A handled signal is reset to its
    default in a child, and Python then gives the command its KeyboardInterrupt again.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that collected no test is a failure, never a silent success (pytest's exit 5)."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ASSISTANT_* variable, assistant.toml or timer of the developer's leaks into a test."""
    for var in list(os.environ):
        if var.upper().startswith("ASSISTANT_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


@pytest.fixture(scope="module")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    """A private PulseAudio with the virtual microphone and speaker (tests/pulse.py)."""
    server = PulseServer(tmp_path_factory.mktemp("pulse"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


# Piper draws random noise for each sentence (its noise_scale and noise_w_scale), so the same
# text came out a little different on every run, and a test's result could hang on which
# telling it got (AEC3 took one in ten tellings of a user's words for echo). Without that
# noise each text is spoken the same way every time, in tests/media.py speech and in replies.
STEADY_VOICE = {"tts": {"noise_scale": 0.0, "noise_w_scale": 0.0}}


@pytest.fixture(scope="session")
def models() -> Models:
    """The default models; the voice without Piper's random variation (STEADY_VOICE)."""
    return load_models(config.load(STEADY_VOICE))


@pytest.fixture(scope="session")
def tts(models: Models) -> PiperTTS:
    assert isinstance(models.tts, PiperTTS)
    return models.tts


@pytest.fixture(scope="session")
def stt(models: Models) -> WhisperSTT:
    assert isinstance(models.stt, WhisperSTT)
    return models.stt


@pytest.fixture(scope="session")
def question_wav(tts: PiperTTS, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One spoken question with silence around it."""
    pcm = media.speech(tts, "What is the capital of France?")
    path = tmp_path_factory.mktemp("media") / "question.wav"
    return media.write_wav(path, np.concatenate([media.silence(0.5), pcm, media.silence(1.5)]))


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """`assistant serve` with the default settings for one test module: its URL."""
    from tests.serving import serving  # imported here: tests.serving imports this module

    with serving() as url:
        yield url


@pytest.fixture(scope="module")
def greedy_server() -> Iterator[str]:
    """A server whose replies repeat exactly (the greedy preset), for one test module: its URL."""
    from tests.serving import serving

    with serving(env={"ASSISTANT_LLM__PRESET": "greedy"}) as url:
        yield url


@pytest.fixture(scope="module")
def logged_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedServer]:
    """The default server with its log kept, checked at the end for what must never be logged."""
    from tests.hostile import LoggedServer  # imported here: tests.hostile imports this module

    running = LoggedServer(tmp_path_factory.mktemp("logged"))
    try:
        yield running
    finally:
        running.stop()
    running.assert_clean()


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*ASSISTANT, *args],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
