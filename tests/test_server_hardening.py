"""What two clients, a signal or a flood must never do to the server: crash it, hang it, bloat it.

Each test drives a real `assistant serve` over loopback: real streams abandoned together, a real
SIGTERM with replies in flight, real audio sent far faster than real time.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.serving import start, ws_url

LONG = {"max_tokens": 400, "temperature": 0.8}
QUESTION = [{"role": "user", "content": "Tell me a long story about a dragon."}]


@pytest.fixture(scope="module")
def server_process() -> Iterator[tuple[object, str]]:
    """The default server, with its process: these tests check that it stays alive."""
    proc, url = start()
    try:
        yield proc, url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _abandon_http(url: str, gate: threading.Barrier, errors: list[str]) -> None:
    body = {"model": "x", "messages": QUESTION, "stream": True, **LONG}
    try:
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=60) as r:
            lines = r.iter_lines()
            read = 0
            while read < 3:
                read += next(lines).startswith("data: ")
            gate.wait(timeout=60)  # every client hangs up at the same moment
    except Exception as exc:
        errors.append(repr(exc))


def _abandon_ws(url: str, gate: threading.Barrier, errors: list[str]) -> None:
    try:
        with connect(ws_url(url)) as ws:
            ws.recv(timeout=30)  # status
            ws.send(json.dumps({"type": "chat", "id": "a", "messages": QUESTION, "config": LONG}))
            tokens = 0
            while tokens < 3:
                tokens += json.loads(ws.recv(timeout=60))["type"] == "token"
            gate.wait(timeout=60)
    except Exception as exc:
        errors.append(repr(exc))


def test_streams_abandoned_together_never_take_the_server_down(
    server_process: tuple[object, str],
) -> None:
    proc, url = server_process
    errors: list[str] = []
    for round_ in range(20):
        width = 2 if round_ % 2 == 0 else 4  # pairs and quadruples (the pool holds two)
        kinds = [_abandon_http if (round_ + i) % 3 else _abandon_ws for i in range(width)]
        # the waiting ones of a quadruple get their context as the first ones leave: only
        # the running ones can hang up together, so a quadruple closes in two pairs
        for group in (kinds[:2], kinds[2:]):
            if not group:
                continue
            gate = threading.Barrier(len(group))
            threads = [threading.Thread(target=k, args=(url, gate, errors)) for k in group]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
        assert proc.poll() is None, f"the server died in round {round_}"  # type: ignore[attr-defined]
    assert not errors, errors
    health = httpx.get(f"{url}/health", timeout=10).json()
    assert health["ready"] and health["model"]
    deadline = time.monotonic() + 60  # only against a hang
    while httpx.get(f"{url}/health").json()["contexts_free"] != 2:  # all came back
        assert time.monotonic() < deadline, "a context never came back"
        time.sleep(0.05)
    reply = httpx.post(
        f"{url}/api/chat", json={"messages": QUESTION, "max_tokens": 8}, timeout=60
    ).json()
    assert reply["tokens_generated"] == 8


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_voice_audio_far_faster_than_real_time_is_held_back(
    server_process: tuple[object, str],
) -> None:
    proc, url = server_process
    pid = proc.pid  # type: ignore[attr-defined]
    piece = np.zeros(320, "<i2").tobytes()  # silence: nothing for speech recognition to do
    with connect(ws_url(url) + "/voice", max_size=None, close_timeout=1) as ws:
        assert json.loads(ws.recv(timeout=60))["type"] == "ready"
        time.sleep(1)
        before = _rss_mb(pid)
        sent, stop = [0], threading.Event()

        def flood() -> None:  # 20 ms of audio per message, as fast as it is taken
            try:
                while not stop.is_set():
                    ws.send(piece)
                    sent[0] += 1
            except ConnectionClosed:
                pass

        sender = threading.Thread(target=flood, daemon=True)
        sender.start()
        began = time.monotonic()
        while time.monotonic() - began < 8:  # /health's latency meanwhile: bench/stops.py
            assert httpx.get(f"{url}/health", timeout=10).status_code == 200
            time.sleep(0.5)
        grown = _rss_mb(pid) - before
        stop.set()
    sender.join(timeout=30)
    # Unbounded, the server took in over 10,000 s of audio here (46 MB more, /health 5 s).
    seconds = sent[0] * 0.02
    assert grown < 24, f"RSS grew {grown:.0f} MB while {seconds:.0f} s of audio were sent"


def test_sigterm_with_streams_in_flight_ends_them_and_exits_0() -> None:
    proc, url = start()
    body = {"messages": QUESTION, "stream": True, "max_tokens": 2000, "temperature": 0.8}
    events: list[list[str]] = [[], []]
    closes: list[int | None] = []
    started = threading.Barrier(4)

    def sse(i: int) -> None:
        with httpx.stream("POST", f"{url}/api/chat", json=body, timeout=60) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    events[i].append(line[6:])
                    if len(events[i]) == 2:
                        started.wait(timeout=60)

    def ws() -> None:
        with connect(ws_url(url)) as socket:
            socket.recv(timeout=30)
            socket.send(json.dumps({"type": "chat", "id": "w", "messages": QUESTION, **body}))
            socket.recv(timeout=60)
            started.wait(timeout=60)
            try:
                while True:
                    socket.recv(timeout=30)
            except ConnectionClosed as closed:
                closes.append(closed.rcvd.code if closed.rcvd else None)

    threads = [threading.Thread(target=sse, args=(i,)) for i in (0, 1)]
    threads.append(threading.Thread(target=ws))
    for t in threads:
        t.start()
    started.wait(timeout=60)
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=60)  # only against a hang; how fast it stops: bench/stops.py
    finally:
        if proc.poll() is None:
            proc.kill()
    for t in threads:
        t.join(timeout=10)
    assert code == 0, proc.stderr.read() if proc.stderr else code  # type: ignore[union-attr]
    for stream in events:
        assert stream[-1] == "[DONE]", stream[-3:]
        assert json.loads(stream[-2])["error"]["code"] == "SHUTTING_DOWN"
    assert closes and closes[0] in (1001, 1012), closes
    assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")  # type: ignore[union-attr]
