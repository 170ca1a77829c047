"""llama.cpp's own OpenAI-compatible server (``python -m llama_cpp.server``), started by a test."""

import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx

from tests.serving import free_port


@contextlib.contextmanager
def llama_server(model: Path, *options: str, n_ctx: int = 2048) -> Iterator[str]:
    """The server on a free loopback port for the length of a block: its ``/v1`` URL.

    ``options`` are the server's own flags (``--clip_model_path``, ``--chat_format``...). It
    is stopped after, whatever happened; its log is shown when it does not come up.
    """
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
        "--port", str(port), "--n_ctx", str(n_ctx), "--verbose", "False",
        # Requests wait their turn: by default a new one cuts short the reply being made.
        "--interrupt_requests", "False", *options,
    ]  # fmt: skip
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
        url = f"http://127.0.0.1:{port}/v1"
        try:
            _wait_for(proc, url, log)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for(proc: subprocess.Popen[str], url: str, log: IO[str]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    log.seek(0)
    raise AssertionError(f"llama_cpp.server did not start: {log.read()[-2000:]}")
