"""Speech models behind OpenAI's audio API: ``stt.backend`` / ``tts.backend = "openai"``.

Any server speaking ``/v1/audio/transcriptions`` and ``/v1/audio/speech`` serves: speaches,
vLLM, another `assistant serve`, OpenAI's own. ``<role>.url`` is its ``/v1``.

- Recognition uploads the utterance as 16 kHz 16-bit WAV (lossless, and what every such server
  decodes) and reads the ``json`` answer's ``text``. The answer carries no confidence, so the
  transcript's ``no_speech_prob`` and ``avg_logprob`` are neutral (0); text that is only
  punctuation or a bracketed tag counts as no speech, as with the local model.
- Synthesis asks for ``pcm`` (OpenAI's raw 24 kHz 16-bit mono) and yields it as it streams in,
  so a clause starts playing before the server has finished it. More audio than
  ``tts.max_audio_s`` for one piece of text is cut off there, the stream closed.
- ``remote_model`` "" asks for OpenAI's names (whisper-1, tts-1), ``tts.voice`` "" for "alloy":
  servers that serve one model take any name; others need theirs set.

Each call has ``timeout_s`` to answer and between pieces of a stream, and ``connect_timeout_s``
to connect; a failure is one RemoteFailed (remote_role.py), retried ``retries`` times only while
nothing of the answer has arrived.
"""

from __future__ import annotations

import io
import json
import threading
import time
import wave
from collections.abc import Iterator

import httpx
import numpy as np

from assistant.config_remote import RemoteRole
from assistant.llm.openai_wire import auth_headers
from assistant.models.interfaces import Float32, Transcript
from assistant.models.remote_role import BackendStatus, RemoteFailed, retrying
from assistant.models.whisper import is_non_speech
from assistant.types import Pcm16

SPEECH_RATE = 24000  # Hertz of OpenAI's pcm
_PIECE_BYTES = 4800  # 100 ms of pcm: how finely streamed audio is passed on


class _OpenAIRemote:
    """The connection pool, the timeouts and the status probe both roles share."""

    backend = "openai"

    def __init__(self, role: str, settings: RemoteRole, model: str) -> None:
        self.role, self.model = role, model
        self.url = settings.remote_url(role)
        self.retries = settings.retries
        timeout = httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
        self._http = httpx.Client(
            base_url=self.url, headers=auth_headers(settings.api_key), timeout=timeout
        )
        self.calls = 0  # requests sent, retries included: what recognition during pauses costs
        self._lock = threading.Lock()

    def _failed(self, why: str, before_answer: bool = True) -> RemoteFailed:
        return RemoteFailed(self.role, self.url, why, before_answer)

    def _http_failed(self, exc: httpx.HTTPError) -> RemoteFailed:
        """One RemoteFailed for a transport failure; only a failed connection is tried again.

        A server that took the request and then said nothing for ``timeout_s`` is not asked
        again: the turn would wait that long once more for a server that is stuck.
        """
        if isinstance(exc, httpx.ConnectTimeout):
            return self._failed(f"did not take the connection in time ({type(exc).__name__})")
        if isinstance(exc, httpx.TimeoutException):
            return self._failed(f"did not answer in time ({type(exc).__name__})", False)
        return self._failed(f"could not be reached ({type(exc).__name__}: {exc})")

    def _check(self, response: httpx.Response) -> None:
        """RemoteFailed for an error answer; a 5xx may be tried again, a 4xx would fail again."""
        if response.is_success:
            return
        why = f"answered {response.status_code}: {self._head(response)}"
        raise self._failed(why, before_answer=response.status_code >= 500)

    def _head(self, response: httpx.Response, limit: int = 300) -> str:
        """The start of an answer's body, for an error message: no more is read."""
        body = b""
        try:
            for piece in response.iter_bytes():
                body += piece
                if len(body) >= limit:
                    break
        except httpx.HTTPError as exc:
            raise self._http_failed(exc) from None
        return body[:limit].decode(errors="replace")

    def _count(self) -> None:
        with self._lock:
            self.calls += 1

    def status(self, timeout_s: float = 2.0) -> BackendStatus:
        """Ready when ``/models`` answers 200 within ``timeout_s``; its round trip in ms."""
        started = time.perf_counter()
        try:
            ok = self._http.get("/models", timeout=timeout_s).status_code == 200
            error = "" if ok else "its model list was refused"
        except httpx.HTTPError as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        ms = round((time.perf_counter() - started) * 1000, 1)
        return BackendStatus(self.role, self.backend, self.url, ok, ms, self.model, error)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()


class OpenAISTT(_OpenAIRemote):
    """Speech to text on a server's ``/audio/transcriptions``; implements SpeechToText."""

    sample_rate = 16000
    continues = False  # the API takes no forced prefix: each pass decodes the utterance whole

    def __init__(self, settings: RemoteRole, language: str, max_text_chars: int) -> None:
        super().__init__("stt", settings, settings.remote_model or "whisper-1")
        self.language = language
        self.max_text_chars = max_text_chars

    def transcribe(self, audio: Float32) -> Transcript:
        """Upload ``audio`` and read the server's transcript (RemoteFailed when it cannot)."""
        wav = _wav(audio, self.sample_rate)
        text = retrying(lambda: self._ask(wav), self.retries)
        if is_non_speech(text):
            text = ""
        # The json answer names no language: with "auto", none is known ("" = the default voice's)
        language = "" if self.language == "auto" else self.language
        return Transcript(text=text, language=language, no_speech_prob=0.0, avg_logprob=0.0)

    def transcribe_after(self, audio: Float32, prefix: str) -> Transcript | None:
        """Not offered by the API: None, so the caller decodes the utterance whole."""
        return None

    def _ask(self, wav: bytes) -> str:
        form = {"model": self.model, "response_format": "json"}
        if self.language and self.language != "auto":
            form["language"] = self.language
        self._count()
        limit = self.max_text_chars * 4 + 4096  # room for JSON and multi-byte characters
        try:
            with self._http.stream(
                "POST", "/audio/transcriptions", files={"file": ("audio.wav", wav)}, data=form
            ) as response:
                self._check(response)
                body = bytearray()
                for piece in response.iter_bytes():
                    body += piece
                    if len(body) > limit:
                        why = (
                            f"sent more than {limit} bytes for one transcript (stt.max_text_chars)"
                        )
                        raise self._failed(why, before_answer=False)
        except httpx.HTTPError as exc:
            raise self._http_failed(exc) from None
        try:
            text = json.loads(body)["text"]
            if not isinstance(text, str):
                raise TypeError(f"text is {type(text).__name__}")
        except (ValueError, KeyError, TypeError) as exc:
            raise self._failed(f"answered without a transcript ({exc})", False) from None
        return text.strip()[: self.max_text_chars]


class OpenAITTS(_OpenAIRemote):
    """Text to speech on a server's ``/audio/speech``, streamed pcm; implements TextToSpeech."""

    sample_rate = SPEECH_RATE

    def __init__(self, settings: RemoteRole, voice: str, max_audio_s: float) -> None:
        super().__init__("tts", settings, settings.remote_model or "tts-1")
        self.voice = voice or "alloy"
        self.language = ""  # whatever the server's voice speaks
        self.max_samples = int(max_audio_s * SPEECH_RATE)

    def synthesize(self, text: str) -> Iterator[Pcm16]:
        """Yield the server's audio for ``text`` as it arrives (RemoteFailed when it cannot)."""
        stream = retrying(lambda: self._open(text), self.retries)
        with stream:
            yield from self._read(stream)

    def _open(self, text: str) -> _Stream:
        """Send the request and wait for the answer's head (the part a retry may repeat)."""
        body = {"model": self.model, "input": text, "voice": self.voice, "response_format": "pcm"}
        self._count()
        request = self._http.build_request("POST", "/audio/speech", json=body)
        try:
            response = self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._http_failed(exc) from None
        try:
            self._check(response)
            kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if not _raw_pcm(kind):  # an error told as a success, or an encoded file
                detail = self._head(response, 200)
                raise self._failed(f"answered {kind} instead of raw pcm audio: {detail}", False)
        except BaseException:
            response.close()
            raise
        return _Stream(response)

    def _read(self, stream: _Stream) -> Iterator[Pcm16]:
        sent, odd = 0, b""
        try:
            for piece in stream.response.iter_bytes(_PIECE_BYTES):
                data = odd + piece
                odd = data[len(data) - len(data) % 2 :]
                samples = np.frombuffer(data[: len(data) - len(odd)], "<i2").astype(np.int16)
                room = self.max_samples - sent
                if len(samples) > room:
                    if room:
                        yield samples[:room]
                    raise self._failed(
                        f"sent more than {self.max_samples / SPEECH_RATE:g} s of audio for one "
                        "piece of text (tts.max_audio_s)",
                        before_answer=False,
                    )
                sent += len(samples)
                if len(samples):
                    yield samples
        except httpx.HTTPError as exc:
            raise self._failed(
                f"broke off its audio ({type(exc).__name__}: {exc})", before_answer=False
            ) from None


class _Stream:
    """A streamed answer, closed on leaving (which tells the server to stop)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *_: object) -> None:
        self.response.close()


def _raw_pcm(kind: str) -> bool:
    """Whether a content type can be raw samples: OpenAI sends none or octet-stream for pcm."""
    return kind in ("", "application/octet-stream", "audio/pcm", "audio/l16", "audio/raw")


def _wav(audio: Float32, rate: int) -> bytes:
    """Mono float32 in [-1, 1] as 16-bit WAV."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buffer.getvalue()
