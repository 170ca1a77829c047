"""Remote speech servers that fail: each failure is one error for its turn, and the session goes on.

The server under test (`assistant serve`, stt and tts on ``openai``) talks to ``Hostile``, a
loopback server written here that speaks OpenAI's audio API and fails on demand: its port
closed, no answer, HTTP 500, an answer that never ends, a connection cut mid-answer, garbage.
Working, it relays every request to a second, real `assistant serve` (its local Whisper and
Piper), so the answers that work are real ones.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest
from websockets.sync.client import ClientConnection, connect

from assistant import config
from assistant.catalog import ModelStore
from assistant.config_sections import SttSettings, TtsSettings
from assistant.models.loaders import load_local_tts
from assistant.models.openai_audio import OpenAISTT, OpenAITTS
from assistant.models.piper import PiperTTS
from assistant.models.remote_role import RemoteFailed
from assistant.server.probes import FRESH_S
from tests import media
from tests.conftest import STEADY_VOICE, run_cli
from tests.kiosk_process import Kiosk
from tests.pulse import PulseServer, needs_pulse
from tests.serving import free_port, serving, start, ws_url

TIMEOUT_S, RETRIES = 2.0, 1  # the server under test's limits for each speech call
# A call fails within its tries' timeouts and their pauses (0.2 s); a turn's error comes then,
# or at the end of the pause (2 s at most with the end-of-turn model), plus this for a busy
# machine.
FAILS_WITHIN_S = (RETRIES + 1) * TIMEOUT_S + 0.2 + 2.0 + 4.0
MODES = ("down", "error", "never", "endless", "killed", "garbage")
HEARD_MODES = MODES[:-1]  # a transcript of garbage fails as the others do (the leak test)


class Hostile:
    """OpenAI's audio API on loopback, relayed to ``upstream`` or failing as ``mode`` says."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.mode = upstream, "working"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._closing = threading.Event()  # "never" answers wait for it (or the client leaving)
        self.received = 0  # requests read
        self.up()

    def up(self) -> None:
        """Listen on the port (again)."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.settimeout(0.1)
        self._listener = listener
        self._accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._accepting.start()

    def down(self) -> None:
        """Close the port: connections are refused."""
        listener, self._listener = self._listener, None
        if self._accepting is not None:
            self._accepting.join(5)
        if listener is not None:
            listener.close()

    def set(self, mode: str) -> None:
        """Work (``working``) or fail one way (``MODES``); ``down`` closes the port."""
        if mode == "down" and self._listener is not None:
            self.down()
        elif mode != "down" and self._listener is None:
            self.up()
        self.mode = mode

    def close(self) -> None:
        self._closing.set()
        self.down()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            method, path, headers, body = _read_request(conn)
            mode = self.mode
            self.received += 1
            speech = path.endswith("/audio/speech")
            if mode == "working":
                self._relay(conn, method, path, headers, body)
            elif mode == "error":
                conn.sendall(_head(500, "text/plain") + b"upstream exploded\nwith a second line")
            elif mode == "never":
                conn.settimeout(0.2)
                while not self._closing.is_set():
                    with contextlib.suppress(TimeoutError):
                        if not conn.recv(1024):
                            return  # the client gave up
            elif mode == "endless":
                conn.sendall(_head(200, _kind(speech)) + (b"" if speech else b'{"text": "'))
                piece = media.noise(0.1, -10, 24000).tobytes() if speech else b"a" * 4800
                while True:
                    conn.sendall(piece)
            elif mode == "killed":
                start = media.noise(0.3, -10, 24000).tobytes() if speech else b'{"te'
                conn.sendall(_head(200, _kind(speech)) + start)
                time.sleep(0.05)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            elif mode == "garbage":
                conn.sendall(_head(200, "application/json") + b'{"choices": "not audio"}')

    def _relay(
        self, conn: socket.socket, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> None:
        kind = {"content-type": headers.get("content-type", "application/json")}
        with (
            httpx.Client(timeout=30) as client,
            client.stream(method, self.upstream + path, content=body, headers=kind) as answer,
        ):
            conn.sendall(_head(answer.status_code, answer.headers.get("content-type", "")))
            for piece in answer.iter_raw():
                conn.sendall(piece)


def _read_request(conn: socket.socket) -> tuple[str, str, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            raise OSError("the client left")
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        body += conn.recv(65536)
    return method, path, headers, body


def _kind(speech: bool) -> str:
    return "application/octet-stream" if speech else "application/json"


def _head(status: int, kind: str) -> bytes:
    """A response head with no length: the body ends when the connection closes."""
    return f"HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nConnection: close\r\n\r\n".encode()


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving() as url:
        yield url


@pytest.fixture(scope="module")
def hostile(upstream: str) -> Iterator[Hostile]:
    server = Hostile(upstream)
    yield server
    server.close()


def remote_env(url: str) -> dict[str, str]:
    """Recognition and speech on the server at ``url`` (its /v1), with short limits."""
    env = {}
    for role in ("STT", "TTS"):
        env |= {
            f"ASSISTANT_{role}__BACKEND": "openai",
            f"ASSISTANT_{role}__URL": url,
            f"ASSISTANT_{role}__TIMEOUT_S": str(TIMEOUT_S),
            f"ASSISTANT_{role}__CONNECT_TIMEOUT_S": "1",
            f"ASSISTANT_{role}__RETRIES": str(RETRIES),
        }
    return env | {"ASSISTANT_TTS__MAX_AUDIO_S": "3", "ASSISTANT_LLM__MAX_TOKENS": "12"}


@pytest.fixture(scope="module")
def relay(hostile: Hostile) -> Iterator[str]:
    proc, url = start(env=remote_env(hostile.url))
    yield url
    proc.terminate()
    proc.wait(timeout=15)
    assert "Traceback" not in proc.stderr.read()  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def voice() -> PiperTTS:
    settings = config.load(STEADY_VOICE)
    return load_local_tts(settings, ModelStore(settings.models_dir))


@pytest.fixture(scope="module")
def question(voice: PiperTTS) -> np.ndarray:
    return media.speech(voice, "What is the capital of France?")


class Microphone:
    """Real-time 16 kHz audio into a /ws/voice session: what ``say`` queues, else silence."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws, self._queue = ws, np.zeros(0, np.int16)
        self._lock, self._sending, self._stop = (
            threading.Lock(),
            threading.Lock(),
            threading.Event(),
        )
        self.said_at = 0.0  # monotonic seconds when the last queued speech was all sent
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Microphone:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def type(self, text: str) -> None:
        """Typed words, sent between two pieces of audio."""
        with self._sending:
            self.ws.send(json.dumps({"type": "text", "text": text}))

    def say(self, pcm: np.ndarray) -> None:
        with self._lock:
            self._queue = np.concatenate([self._queue, pcm])

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                chunk, self._queue = self._queue[:320], self._queue[320:]
                if len(chunk) and not len(self._queue):
                    self.said_at = time.monotonic()
            chunk = np.pad(chunk, (0, 320 - len(chunk)))
            with contextlib.suppress(Exception), self._sending:
                self.ws.send(chunk.astype("<i2").tobytes())
            next_at += 0.02
            time.sleep(max(0.0, next_at - time.monotonic()))


def messages_until(ws: ClientConnection, kinds: set[str], timeout: float) -> list[dict]:
    """JSON messages up to the first of a type in ``kinds`` (audio skipped)."""
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"none of {kinds} in {timeout} s; got {[m['type'] for m in got]}"
        item = ws.recv(timeout=left)
        if isinstance(item, str):
            got.append(json.loads(item))
            if got[-1]["type"] in kinds:
                return got


def metric(url: str, name: str) -> float:
    """A metric's value at ``url`` (the sum of its lines, when labelled), 0 when absent."""
    lines = httpx.get(f"{url}/metrics").text.splitlines()
    return sum(float(x.rsplit(" ", 1)[1]) for x in lines if x.startswith(name))


def test_health_metrics_and_doctor_show_each_backend(
    hostile: Hostile, relay: str, tmp_path: Path
) -> None:
    hostile.set("working")
    backends = httpx.get(f"{relay}/health", timeout=10).json()["backends"]
    assert backends["stt"] == backends["stt"] | {"backend": "openai", "url": hostile.url}
    assert backends["stt"]["ready"] and backends["tts"]["ready"] and backends["llm"]["ready"]
    assert backends["stt"]["latency_ms"] > 0 and backends["llm"]["backend"] == "local"
    assert backends["llm"]["model"] == httpx.get(f"{relay}/health").json()["model"]
    assert metric(relay, 'assistant_backend_up{backend="openai",role="tts"') == 1
    hostile.set("down")
    try:
        time.sleep(FRESH_S)  # the last probe's answer has gone stale: /health asks again
        backends = httpx.get(f"{relay}/health", timeout=10).json()["backends"]
        assert not backends["stt"]["ready"] and "ConnectError" in backends["stt"]["error"]
        assert metric(relay, 'assistant_backend_up{backend="openai",role="tts"') == 0
        wav = media.write_wav(tmp_path / "a.wav", media.silence(1.0))
        upload = {"file": ("a.wav", wav.read_bytes())}
        answer = httpx.post(f"{relay}/v1/audio/transcriptions", files=upload, timeout=30)
        assert answer.status_code == 502 and "the stt server at" in answer.text
        doctor = run_cli("doctor", "--json", env=remote_env(hostile.url))
        assert doctor.returncode == 1  # a backend that does not answer needs fixing
        report = json.loads(doctor.stdout)["backends"]
        assert report["tts"]["url"] == hostile.url and not report["tts"]["ready"]
        assert report["llm"]["ready"]
    finally:
        hostile.set("working")
    assert run_cli("doctor", env=remote_env(hostile.url)).returncode == 0


def test_each_failure_is_one_error_and_the_voice_session_goes_on(
    hostile: Hostile, relay: str, question: np.ndarray
) -> None:
    """Spoken turns fail in recognition, typed ones in speech; every next turn works again."""
    spoken = np.concatenate([question, media.silence(0.3)])
    hostile.set("working")
    asked = hostile.received
    with connect(ws_url(relay) + "/voice", max_size=None) as ws, Microphone(ws) as mic:
        assert json.loads(ws.recv(timeout=60))["type"] == "ready"
        time.sleep(0.6)  # the noise floor is measured on the first half second
        assert hostile.received == asked  # remote models are not warmed up: nothing was asked
        calls = metric(relay, 'assistant_remote_calls_total{backend="openai",role="stt"')
        mic.say(spoken)
        got = messages_until(ws, {"turn"}, 60)
        assert "capital" in next(m for m in got if m["type"] == "turn")["transcript"].lower()
        # One question, one pause: its speculative transcription is the turn's.
        made = metric(relay, 'assistant_remote_calls_total{backend="openai",role="stt"') - calls
        assert made == 1, made
        for mode in HEARD_MODES:
            hostile.set(mode)
            mic.say(spoken)
            got = messages_until(ws, {"error"}, len(question) / 16000 + FAILS_WITHIN_S)
            assert time.monotonic() - mic.said_at < FAILS_WITHIN_S, mode
            assert "the stt server at" in got[-1]["error"] and "\n" not in got[-1]["error"]
            assert got[-1]["stage"] == "stt" and got[-1]["turn_id"] > 0
            assert not any(m["type"] in ("reply", "turn") for m in got), mode
            hostile.set("working")  # back: the same session hears the next question
            mic.say(spoken)
            got = messages_until(ws, {"turn", "error"}, 60)
            assert got[-1]["type"] == "turn" and got[-1]["reply"], (mode, got[-1])
            assert "capital" in got[-1]["transcript"].lower(), mode
        for mode in MODES:
            hostile.set(mode)
            started = time.monotonic()
            mic.type("Say hello.")
            got = messages_until(ws, {"error"}, FAILS_WITHIN_S + 6)
            assert "the tts server at" in got[-1]["error"], mode
            got += messages_until(ws, {"turn"}, 30)  # the reply's text goes on, the turn ends
            assert [m["type"] for m in got].count("error") == 1, mode
            assert next(m for m in got if m["type"] == "reply")["text"], mode
            assert time.monotonic() - started < FAILS_WITHIN_S + 20, mode
        hostile.set("working")
        mic.type("Say hello.")
        got = messages_until(ws, {"turn", "error"}, 60)
        assert got[-1]["type"] == "turn" and got[-1]["reply_audio_s"] > 0.3
    failures = metric(relay, 'assistant_voice_turn_failures_total{stage="stt"}')
    assert failures == len(HEARD_MODES)


def test_a_new_turn_is_spoken_at_once_while_a_voice_server_hangs(hostile: Hostile) -> None:
    """The hanging call is left behind: the next turn's speech does not wait for its timeout."""
    patient = 20.0  # the voice server may be silent this long before a call fails
    env = remote_env(hostile.url) | {"ASSISTANT_TTS__TIMEOUT_S": str(patient)}
    hostile.set("working")
    proc, url = start(env=env)
    try:
        with connect(ws_url(url) + "/voice", max_size=None) as ws, Microphone(ws) as mic:
            assert json.loads(ws.recv(timeout=60))["type"] == "ready"
            hostile.set("never")
            mic.type("Say hello.")
            messages_until(ws, {"reply"}, 30)  # the text is written; its speech hangs
            hostile.set("working")
            started = time.monotonic()
            mic.type("Say goodbye.")  # a new turn: the reply being given stops first
            # The first turn ends, cut short, and then the second one, spoken
            got = messages_until(ws, {"turn"}, 2 * patient)
            assert got[-1]["transcript"] == "Say hello." and got[-1]["reply_audio_s"] == 0
            got = messages_until(ws, {"turn"}, 2 * patient)
            assert got[-1]["transcript"] == "Say goodbye." and got[-1]["reply_audio_s"] > 0.3
            assert time.monotonic() - started < patient / 2
    finally:
        hostile.set("working")
        proc.terminate()
        proc.wait(timeout=30)
    assert "Traceback" not in proc.stderr.read()  # type: ignore[union-attr]


def test_realtime_reports_each_failed_turn_as_its_error_event(
    hostile: Hostile, relay: str, voice: PiperTTS
) -> None:
    import asyncio

    from tests.realtime_wire import Microphone, Wire

    spoken = np.concatenate([media.speech(voice, "What is the capital of France?", 24000),
                             media.silence(0.3, 24000)])  # fmt: skip

    async def talk() -> None:
        async with Wire.open(relay) as wire, Microphone(wire) as mic:
            hostile.set("error")  # a typed question: its reply's voice fails
            item = {"type": "message", "role": "user",
                    "content": [{"type": "input_text", "text": "Say hello."}]}  # fmt: skip
            await wire.send("conversation.item.create", item=item)
            await wire.send("response.create")
            events = await wire.until("response.done", 60, errors=True)
            errors = [e for e in events if e["type"] == "error"]
            assert len(errors) == 1 and "the tts server at" in errors[0]["error"]["message"]
            mic.say(spoken)  # a spoken one: its recognition fails, and no response is made
            failed = "conversation.item.input_audio_transcription.failed"
            events = await wire.until(failed, 2 + FAILS_WITHIN_S, errors=True)
            assert "the stt server at" in events[-1]["error"]["message"]
            error = (await wire.until("error", 5, errors=True))[-1]
            assert "the stt server at" in error["error"]["message"]
            assert not any(e["type"] == "response.created" for e in events)
            hostile.set("working")  # back: the session answers the next question aloud
            mic.say(spoken)
            events = await wire.until("response.done", 60)
            assert any(e["type"] == "response.output_audio.delta" for e in events)
            heard = "conversation.item.input_audio_transcription.completed"
            assert "capital" in next(e for e in events if e["type"] == heard)["transcript"].lower()

    try:
        asyncio.run(talk())
    finally:
        hostile.set("working")


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium comes with `make test-deps`")
def test_the_page_shows_a_failed_turn_until_the_next_one(hostile: Hostile, relay: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = chromium.new_context(bypass_csp=True).new_page()  # Playwright's waits eval
            page.goto(relay)
            page.wait_for_function("window.assistantStats && window.assistantStats.connected")
            hostile.set("error")
            box = page.get_by_label("Type a question")
            box.fill("Say hello.")
            box.press("Enter")
            alert = page.get_by_role("alert")
            alert.wait_for(state="visible", timeout=(FAILS_WITHIN_S + 10) * 1000)
            assert "the tts server at" in alert.inner_text()
            page.wait_for_function("window.assistantStats.replies.length === 1")  # text goes on
            hostile.set("working")
            box.fill("Say hello again.")
            box.press("Enter")
            page.wait_for_function(
                "window.assistantStats.replies.length === 2 && window.assistantStats.audioBytes",
                timeout=60_000,
            )
            assert alert.is_hidden()  # the next turn began: the old failure is gone
        finally:
            hostile.set("working")
            chromium.close()


@needs_pulse()
def test_the_kiosk_logs_a_failed_turn_once_and_goes_on_listening(
    pulse: PulseServer, hostile: Hostile, question: np.ndarray, tmp_path: Path
) -> None:
    sets = [f"{key[10:].lower().replace('__', '.')}={value}"
            for key, value in remote_env(hostile.url).items()]  # fmt: skip
    wav = media.write_wav(tmp_path / "q.wav", np.concatenate([question, media.silence(0.2)]))
    kiosk = Kiosk(pulse, *sets)
    try:
        kiosk.wait_listening()
        hostile.set("error")
        pulse.play(wav)
        failed = kiosk.wait_for(lambda e: "failed" in e["message"], 2 + FAILS_WITHIN_S)
        assert failed["level"] == "error" and "stt failed: the stt server at" in failed["message"]
        kiosk.wait_for(lambda e: e.get("state") == "listening", 10)
        hostile.set("working")
        pulse.play(wav)
        turn = kiosk.turn()
        assert "capital" in turn["transcript"].lower() and turn["reply_audio_s"] > 0.3
    finally:
        hostile.set("working")
        code, _ = kiosk.terminate()
    failures = [e for e in kiosk.log.seen if "failed" in e["message"]]
    assert len(failures) == 1, failures  # one line for the failed turn, no restart
    assert code == 0 and not kiosk.log.text, kiosk.log.text


def test_nothing_leaks_over_fifty_turns_of_a_failing_and_working_server(
    hostile: Hostile, question: np.ndarray
) -> None:
    """Threads, open files and memory stay bounded while the server fails every other turn.

    Bounds: each call's connection is closed when it ends (the server closes it, or the client
    on failure), so at most the pool's idle connections stay open (a few fds); no thread is
    left behind by a call; memory may grow by allocator noise only (16 MiB).
    """
    settings = {"url": hostile.url, "timeout_s": TIMEOUT_S, "retries": RETRIES}
    stt = OpenAISTT(SttSettings(backend="openai", **settings), "en", 2000)
    tts = OpenAITTS(TtsSettings(backend="openai", max_audio_s=3, **settings), "", 3)
    audio = np.concatenate([question, media.silence(0.3)]).astype(np.float32) / 32768
    process = psutil.Process()
    failing = ["error", "killed", "down", "endless", "garbage"]

    def turn(i: int) -> None:
        hostile.set("working" if i % 2 == 0 else failing[i // 2 % len(failing)])
        try:
            heard = stt.transcribe(audio).text
            spoken = sum(len(pcm) for pcm in tts.synthesize("Paris is the capital."))
            assert "capital" in heard.lower() and spoken > 24000, i
        except RemoteFailed:
            assert i % 2, f"turn {i} should have worked"
            with contextlib.suppress(RemoteFailed):
                list(tts.synthesize("Paris."))
        else:
            assert i % 2 == 0, f"turn {i} should have failed"

    try:
        for i in range(10):  # warm: connections, buffers, the allocator's arenas
            turn(i)
        time.sleep(0.3)  # the hostile server's threads of the last turn end
        threads, fds, rss = threading.active_count(), _fds(), process.memory_info().rss
        for i in range(10, 60):
            turn(i)
        time.sleep(0.3)
        assert threading.active_count() <= threads + 1
        assert _fds() <= fds + 4
        assert process.memory_info().rss - rss < 16 << 20
        assert stt.calls >= 50  # retries included
    finally:
        stt.close()
        tts.close()
        hostile.set("working")


def test_a_stale_speculation_waiting_on_the_server_does_not_hold_up_the_utterance(
    hostile: Hostile, question: np.ndarray
) -> None:
    """The pause's transcription hangs; the utterance went on, and its own call goes at once."""
    import asyncio

    from assistant.pipeline import events
    from assistant.pipeline.events import EventBus
    from assistant.pipeline.frames import EndFrame, SpeechPauseFrame, UtteranceFrame
    from assistant.pipeline.pipeline import Pipeline
    from assistant.pipeline.stages.stt import SttStage

    slow = SttSettings(backend="openai", url=hostile.url, timeout_s=20, retries=0)
    stt = OpenAISTT(slow, "en", 2000)
    pcm = np.concatenate([question, media.silence(0.3)])
    heard: asyncio.Queue[events.Event] = asyncio.Queue()

    async def talk() -> float:
        bus = EventBus()
        bus.listen(lambda e: heard.put_nowait(e) if isinstance(e, events.Transcript) else None)
        pipeline = Pipeline([SttStage(stt, local=False)], bus)
        await pipeline.start()
        before = hostile.received
        hostile.set("never")
        await pipeline.queue_frame(SpeechPauseFrame(audio=pcm[:16000], start=0.0, end=1.0))
        while hostile.received == before:  # the speculation is waiting on the server
            await asyncio.sleep(0.02)
        hostile.set("working")
        started = time.monotonic()
        end = len(pcm) / 16000
        utterance = UtteranceFrame(
            turn_id=1, audio=pcm, sample_rate=16000, start=0.0, end=end, speech_end_wall=started
        )
        await pipeline.queue_frame(utterance)
        transcript = await asyncio.wait_for(heard.get(), 15)
        took = time.monotonic() - started
        assert isinstance(transcript, events.Transcript) and "capital" in transcript.text.lower()
        await pipeline.queue_frame(EndFrame())
        await pipeline.wait()
        return took

    try:
        took = asyncio.run(talk())
    finally:
        hostile.set("working")
        stt.close()
    assert took < 5, f"the utterance waited {took:.1f} s behind the stale call"  # not 20
    assert stt.calls == 2  # the stale one and the utterance's: none asked twice


def _fds() -> int:
    return len(list(Path("/proc/self/fd").iterdir()))


def test_chat_json_prints_each_failed_turn_and_exits_1(
    tmp_path: Path, question: np.ndarray
) -> None:
    two = np.concatenate([media.silence(0.5), question, media.silence(2.5), question,
                          media.silence(2.5)])  # fmt: skip
    wav = media.write_wav(tmp_path / "two.wav", two)
    gone = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    env = {"ASSISTANT_STT__BACKEND": "openai", "ASSISTANT_STT__URL": gone}
    out = run_cli("chat", "--input", str(wav), "--json", "--no-realtime", env=env)
    assert out.returncode == 1, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["turn"] for line in lines] == [1, 2]  # the file went on after the first
    assert all(line["event"] == "error" and line["stage"] == "stt" for line in lines)
    assert re.search(r"the stt server at http://127\.0\.0\.1:\d+/v1 could not be reached",
                     lines[0]["message"])  # fmt: skip
    assert "Traceback" not in out.stderr


def test_fallback_local_transcribes_here_when_the_server_is_down(question: np.ndarray) -> None:
    gone = f"http://127.0.0.1:{free_port()}/v1"
    env = {
        "ASSISTANT_STT__BACKEND": "openai",
        "ASSISTANT_STT__URL": gone,
        "ASSISTANT_STT__FALLBACK": "local",
    }
    with tempfile.TemporaryDirectory() as folder:
        wav = media.write_wav(Path(folder) / "q.wav", np.concatenate(
            [media.silence(0.5), question, media.silence(1.5)]))  # fmt: skip
        out = run_cli("chat", "--input", str(wav), "--json", "--no-realtime", env=env)
        local = run_cli("chat", "--input", str(wav), "--json", "--no-realtime")
    assert out.returncode == 0, out.stderr
    turn = json.loads(out.stdout.splitlines()[-1])
    assert turn["transcript"] == json.loads(local.stdout.splitlines()[-1])["transcript"]
    assert "capital" in turn["transcript"].lower() and turn["reply"]
    said = [line for line in out.stderr.splitlines() if "local model answers instead" in line]
    assert len(said) == 1, out.stderr  # one line; the remote then rests, unasked


def test_fallback_local_speaks_here_once_the_server_failed_but_never_twice(
    hostile: Hostile, voice: PiperTTS
) -> None:
    """Cut mid-clause, a clause fails; then the local voice speaks until the remote rested."""
    from assistant.models.fallback import FallbackTTS

    settings = TtsSettings(backend="openai", url=hostile.url, timeout_s=TIMEOUT_S, retries=0)
    remote = OpenAITTS(settings, "", 10)
    tts = FallbackTTS(remote, lambda: voice, cool_down_s=1.0)

    def seconds(text: str) -> float:
        return sum(len(pcm) for pcm in tts.synthesize(text)) / tts.sample_rate

    try:
        hostile.set("killed")  # 0.3 s of audio, then the connection is cut
        heard = []
        with pytest.raises(RemoteFailed, match="broke off"):  # the turn's error, as without
            heard.extend(tts.synthesize("Paris is the capital of France."))
        assert sum(len(pcm) for pcm in heard) / tts.sample_rate == pytest.approx(0.3, abs=0.01)
        assert tts.fallbacks == 0 and remote.calls == 1  # not said again by the local voice
        hostile.set("working")  # resting: the remote is not asked, the local voice speaks
        assert seconds("Paris is the capital of France.") > 1.0
        assert tts.fallbacks == 1 and remote.calls == 1
        time.sleep(1.0)  # rested: asked again, and it answers
        assert seconds("Paris is the capital of France.") > 1.0
        assert tts.fallbacks == 1 and remote.calls == 2
        hostile.set("down")  # fails before any audio: the same clause, spoken here
        assert seconds("Paris.") > 0.3
        assert tts.fallbacks == 2 and remote.calls == 3
    finally:
        hostile.set("working")
        tts.close()
