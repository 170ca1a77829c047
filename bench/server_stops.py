"""Server stop benchmark: how fast `assistant serve` lets go of work (``make bench-stops``).

The tests assert that each stop happens; how fast is measured here, as a ratio to a baseline
from the same run:
- a WebSocket ``cancel`` until its ``complete``, against the stream's own time per token
  (target <= 10x: the former test bound, 100 ms, at ~10 ms a token);
- an HTTP stream hung up until its context is free again, against the time per token
  (target <= 100x);
- the slowest /health while a client floods /ws/voice with silence far faster than real
  time, against /health on the idle server (target <= 1 s, the former test bound, and the ratio
  reported);
- SIGTERM with three streams in flight until exit, against SIGTERM of the idle server
  (target <= 2x).
Prints a table and JSON (also bench/results/server_stops.json).
"""

from __future__ import annotations

import json
import signal
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.report import finish  # noqa: E402
from bench.server import start_server, stop  # noqa: E402

COUNT = {"prompt": "1, 2, 3, 4, 5,", "max_tokens": 1500, "temperature": 0}
RUNS = 5
TARGETS = {"cancel_ratio_max": 10.0, "hang_up_ratio_max": 100.0, "health_max_s": 1.0}
TARGETS |= {"sigterm_ratio_max": 2.0}


def _ws(url: str) -> str:
    return url.replace("http://", "ws://") + "/ws"


def ws_cancel(url: str) -> dict[str, float]:
    """``cancel`` to ``complete`` on /ws, against the stream's time per token (median)."""
    stops, per_token = [], []
    with connect(_ws(url)) as ws:
        ws.recv()  # status
        for i in range(RUNS):
            ws.send(json.dumps({"type": "generate", "id": f"c{i}", "prompt": COUNT["prompt"],
                                "config": {"max_tokens": 1500, "temperature": 0}}))  # fmt: skip
            arrivals: list[float] = []
            while len(arrivals) < 20:
                if json.loads(ws.recv())["type"] == "token":
                    arrivals.append(time.perf_counter())
            per_token.append(float(statistics.median(np.diff(arrivals))))
            sent = time.perf_counter()
            ws.send(json.dumps({"type": "cancel", "id": f"c{i}"}))
            while json.loads(ws.recv())["type"] != "complete":
                pass
            stops.append(time.perf_counter() - sent)
    stop_s, token_s = statistics.median(stops), statistics.median(per_token)
    return {"stop_ms": stop_s * 1000, "token_ms": token_s * 1000, "ratio": stop_s / token_s}


def hang_up(url: str, token_s: float) -> dict[str, float]:
    """An HTTP stream hung up until /health shows its context free again (median)."""
    free = httpx.get(f"{url}/health").json()["contexts_free"]
    times = []
    for _ in range(RUNS):
        with httpx.stream("POST", f"{url}/api/generate", json={**COUNT, "stream": True}) as r:
            next(r.iter_lines())
        gone = time.perf_counter()
        while httpx.get(f"{url}/health").json()["contexts_free"] != free:
            time.sleep(0.005)
        times.append(time.perf_counter() - gone)
    seconds = statistics.median(times)
    return {"free_ms": seconds * 1000, "token_ms": token_s * 1000, "ratio": seconds / token_s}


def _health_s(url: str) -> float:
    start = time.perf_counter()
    httpx.get(f"{url}/health", timeout=30).raise_for_status()
    return time.perf_counter() - start


def health_under_flood(url: str) -> dict[str, float]:
    """The slowest /health over 8 s of a /ws/voice flood, against /health idle (median)."""
    idle = statistics.median(_health_s(url) for _ in range(20))
    piece, stopping = np.zeros(320, "<i2").tobytes(), threading.Event()
    with connect(url.replace("http://", "ws://") + "/ws/voice", max_size=None) as ws:
        json.loads(ws.recv(timeout=60))  # ready

        def flood() -> None:
            try:
                while not stopping.is_set():
                    ws.send(piece)
            except ConnectionClosed:
                pass

        sender = threading.Thread(target=flood, daemon=True)
        sender.start()
        began, slowest = time.perf_counter(), 0.0
        while time.perf_counter() - began < 8:
            slowest = max(slowest, _health_s(url))
            time.sleep(0.5)
        stopping.set()
    sender.join(30)
    return {"flood_max_ms": slowest * 1000, "idle_ms": idle * 1000, "ratio": slowest / idle}


def _sigterm_s(streams: int) -> float:
    """Seconds from SIGTERM to exit of a fresh server with ``streams`` streams under way."""
    server, url = start_server({})
    body = {**COUNT, "max_tokens": 2000, "stream": True}
    started = threading.Barrier(streams + 1)

    def stream() -> None:
        try:
            with httpx.stream("POST", f"{url}/api/generate", json=body, timeout=60) as r:
                lines = r.iter_lines()
                next(lines)
                started.wait(60)
                for _line in lines:
                    pass
        except httpx.HTTPError:
            pass

    threads = [threading.Thread(target=stream) for _ in range(streams)]
    for t in threads:
        t.start()
    if streams:
        started.wait(60)
    begin = time.perf_counter()
    server.send_signal(signal.SIGTERM)
    server.wait(60)
    seconds = time.perf_counter() - begin
    for t in threads:
        t.join(10)
    return seconds


def sigterm() -> dict[str, float]:
    """SIGTERM with streams in flight, against SIGTERM idle (median of 3 each)."""
    busy = statistics.median(_sigterm_s(2) for _ in range(3))  # the pool holds two
    idle = statistics.median(_sigterm_s(0) for _ in range(3))
    return {"busy_ms": busy * 1000, "idle_ms": idle * 1000, "ratio": busy / idle}


def main() -> None:
    """Start a server, measure every stop, print a table and JSON."""
    server, url = start_server({})
    try:
        cancel = ws_cancel(url)
        gone = hang_up(url, cancel["token_ms"] / 1000)
        health = health_under_flood(url)
    finally:
        stop(server)
    results: dict[str, Any] = {"targets": TARGETS, "ws_cancel": cancel, "hang_up": gone}
    results |= {"health_under_flood": health, "sigterm": sigterm()}
    term = results["sigterm"]
    results["pass"] = {
        "ws_cancel": cancel["ratio"] <= TARGETS["cancel_ratio_max"],
        "hang_up": gone["ratio"] <= TARGETS["hang_up_ratio_max"],
        "health_under_flood": health["flood_max_ms"] <= TARGETS["health_max_s"] * 1000,
        "sigterm": term["ratio"] <= TARGETS["sigterm_ratio_max"],
    }
    print(f"{'stop':<44}{'ms':>9}{'baseline ms':>13}{'ratio':>8}")
    rows = [
        ("/ws cancel to complete / one token", cancel["stop_ms"], cancel["token_ms"]),
        ("stream hung up to slot free / one token", gone["free_ms"], gone["token_ms"]),
        ("slowest /health in a voice flood / idle", health["flood_max_ms"], health["idle_ms"]),
        ("SIGTERM, streams in flight / idle", term["busy_ms"], term["idle_ms"]),
    ]
    for name, ms, base in rows:
        print(f"{name:<44}{ms:>9.1f}{base:>13.1f}{ms / base:>8.2f}")
    finish("server_stops", results)


if __name__ == "__main__":
    main()
