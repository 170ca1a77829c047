"""A private PulseAudio server for tests: null sinks stand in for the microphone and speaker.

``vmic`` is the microphone: tests play into it with ``paplay`` and the assistant records its
monitor (PULSE_SOURCE=vmic.monitor). ``vspk`` is the speaker: the assistant plays into it
(PULSE_SINK=vspk) and tests record its monitor with ``parec``. The server runs in a temporary
runtime directory, so it never meets a desktop's own PulseAudio, and is killed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

MIC_RATE = 16000
SPEAKER_RATE = 24000
# norewinds: without it a null sink buffers seconds and paplay runs far slower than real time.
# The defaults are a third sink, so streams whose device vanishes are not moved to the other
# virtual device (and rescue-streams is off in the daemon config, so they fail instead).
_SINK = "module-null-sink sink_name={} rate={} channels=1 format=s16le norewinds=1"
_SCRIPT = f""".fail
load-module module-native-protocol-unix auth-anonymous=1
load-module {_SINK.format("void", MIC_RATE)}
load-module {_SINK.format("vmic", MIC_RATE)}
load-module {_SINK.format("vspk", SPEAKER_RATE)}
set-default-sink void
set-default-source void.monitor
"""
_DAEMON_CONF = "exit-idle-time = -1\nrescue-streams = no\nenable-memfd = no\n"


def needs_pulse() -> pytest.MarkDecorator:
    """Skip where PulseAudio is missing, except in CI.

    In CI `make test` installs it, so a missing audio stack is a failure, never a silent skip.
    """
    return pytest.mark.skipif(
        available() is not None and not os.environ.get("CI"), reason=str(available())
    )


def available() -> str | None:
    """Why the audio tests cannot run here, or None when they can."""
    missing = [
        tool for tool in ("pulseaudio", "pactl", "paplay", "parec") if not shutil.which(tool)
    ]
    return f"missing {', '.join(missing)} (make test installs them)" if missing else None


class PulseServer:
    """A running private PulseAudio with the two null sinks."""

    def __init__(self, root: Path) -> None:
        self.root = root
        run = root / "run"
        self.env = {
            "XDG_RUNTIME_DIR": str(run),
            "PULSE_RUNTIME_PATH": str(run / "pulse"),
            "PULSE_STATE_PATH": str(root / "state"),
            "PULSE_SERVER": f"unix:{run / 'pulse' / 'native'}",
            "PULSE_SOURCE": "vmic.monitor",
            "PULSE_SINK": "vspk",
        }
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it answers."""
        for sub in ("run/pulse", "state", "config"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "run").chmod(0o700)
        script = self.root / "test.pa"
        script.write_text(_SCRIPT)
        daemon_conf = self.root / "daemon.conf"
        daemon_conf.write_text(_DAEMON_CONF)
        self._process = subprocess.Popen(
            [
                "pulseaudio",
                "-n",
                "-F",
                str(script),
                "--exit-idle-time=-1",
                "--daemonize=no",
                "--disallow-exit",
                "--use-pid-file=no",
                "--log-target=stderr",
            ],
            env={
                **os.environ,
                **self.env,
                "XDG_CONFIG_HOME": str(self.root / "config"),
                "PULSE_CONFIG": str(daemon_conf),
            },
            stdout=subprocess.DEVNULL,
            stderr=(self.root / "pulse.log").open("wb"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while self.pactl("info", check=False).returncode != 0:
            if self._process.poll() is not None or time.monotonic() > deadline:
                log = (self.root / "pulse.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"PulseAudio did not start:\n{log}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Kill the server."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run pactl against this server."""
        return subprocess.run(
            ["pactl", *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=10,
            check=check,
        )

    def play(self, wav: Path, device: str = "vmic") -> None:
        """Play a WAV file into a sink and wait until it has been played."""
        subprocess.run(
            ["paplay", f"--device={device}", str(wav)],
            env={**os.environ, **self.env},
            check=True,
            timeout=120,
        )

    def play_async(self, wav: Path, device: str = "vmic") -> subprocess.Popen[bytes]:
        """Start playing a WAV file into a sink."""
        return subprocess.Popen(
            ["paplay", f"--device={device}", str(wav)], env={**os.environ, **self.env}
        )

    @contextlib.contextmanager
    def record(self, path: Path, source: str = "vspk.monitor") -> Iterator[Path]:
        """Record a source to a WAV file (16 kHz mono) while the block runs."""
        process = subprocess.Popen(
            [
                "parec",
                f"--device={source}",
                "--file-format=wav",
                "--format=s16le",
                f"--rate={MIC_RATE}",
                "--channels=1",
                str(path),
            ],
            env={**os.environ, **self.env},
        )
        try:
            yield path
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def add_sink(self, name: str) -> str:
        """Create a null sink like the ones at start; returns the module index."""
        rate = SPEAKER_RATE if name == "vspk" else MIC_RATE
        return self.load_module(*_SINK.format(name, rate).split())

    def load_module(self, *args: str) -> str:
        """Load a module; returns its index."""
        return self.pactl("load-module", *args).stdout.strip()

    def unload_module(self, index: str) -> None:
        """Unload a module by index."""
        self.pactl("unload-module", index)

    def sink_module(self, name: str) -> str:
        """The index of the module that created sink ``name``."""
        for line in self.pactl("list", "short", "modules").stdout.splitlines():
            if f"sink_name={name}" in line:
                return line.split("\t")[0]
        raise LookupError(name)
