"""Speech models on a Wyoming server: ``stt.backend`` / ``tts.backend = "wyoming"``.

Any Wyoming speech server serves: wyoming-faster-whisper and wyoming-piper as Home Assistant
users run them, or another `assistant serve --wyoming-port`. ``<role>.url`` is tcp://host:port;
models/wyoming_wire.py holds the connection, its timeouts and its limits.

- Recognition sends ``transcribe`` (``stt.language`` unless "auto", ``remote_model`` when set),
  then the utterance as 16 kHz 16-bit mono ``audio-*`` events. A server may answer with one
  ``transcript`` or stream ``transcript-start``/``-chunk``/``-stop`` (its info's
  ``supports_transcript_streaming``; the client asks nothing of it, so both forms are read):
  the final text is what counts, cut at ``stt.max_text_chars``. No confidence comes back, so
  ``no_speech_prob`` and ``avg_logprob`` are neutral (0); text that is only punctuation or a
  bracketed tag counts as no speech, as with the local model.
- Synthesis asks the server what it offers once (``describe``), then sends ``synthesize``, or
  ``synthesize-start``/``-chunk``/``-stop`` where its info says ``supports_synthesize_streaming``
  (the text is one clause either way; the streamed form is the one such a server expects).
  Audio is yielded chunk by chunk as it arrives, so a clause starts playing before the server
  has finished it, converted to mono int16 at 22050 Hz: Piper's medium and high voices (the
  usual Wyoming voice, and this project's own) speak at that rate, so their audio passes
  unchanged, and other rates are resampled with the project's stream resampler. More than
  ``tts.max_audio_s`` for one piece of text is cut off there and the connection closed.

A call that fails before any answer is tried again, ``retries`` times (models/remote_role.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from assistant.config_remote import RemoteRole
from assistant.convert.resample import StreamResampler
from assistant.models.interfaces import Float32
from assistant.models.interfaces import Transcript as Heard
from assistant.models.remote_role import retrying
from assistant.models.whisper import is_non_speech
from assistant.models.wyoming_wire import WyomingCall, WyomingRemote
from assistant.types import Pcm16

VOICE_RATE = 22050  # Hertz of the audio WyomingTTS yields (Piper's own rate)
_STT_RATE = 16000
_CHUNK_BYTES = 3200  # 100 ms of 16 kHz 16-bit audio per audio-chunk event
_MAX_EVENTS = 4096  # events of one answer that bring no audio or end (chunks of text count)


class WyomingSTT(WyomingRemote):
    """Speech to text on a Wyoming server; implements SpeechToText."""

    sample_rate = _STT_RATE
    continues = False  # the protocol takes no forced prefix: each pass decodes the utterance whole

    def __init__(self, settings: RemoteRole, language: str, max_text_chars: int) -> None:
        super().__init__("stt", settings)
        self.model = settings.remote_model
        self.language = language
        self.max_text_chars = max_text_chars

    def transcribe(self, audio: Float32) -> Heard:
        """Send ``audio`` and read the server's transcript (RemoteFailed when it cannot)."""
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        text, language = retrying(lambda: self._ask(pcm), self.retries)
        if is_non_speech(text):
            text = ""
        return Heard(text=text, language=language, no_speech_prob=0.0, avg_logprob=0.0)

    def transcribe_after(self, audio: Float32, prefix: str) -> Heard | None:
        """Not offered by the protocol: None, so the caller decodes the utterance whole."""
        return None

    def served(self, info: Info) -> str:
        """``remote_model`` when set, else the server's one model (or its program's name)."""
        names = [m.name for p in info.asr for m in p.models if m.installed]
        return self.model or _one_name(names, [p.name for p in info.asr])

    def _ask(self, pcm: bytes) -> tuple[str, str]:
        """The transcript's text and language (the one asked for, where the server says none)."""
        self.count()
        call = self.connect()
        try:
            fmt = {"rate": _STT_RATE, "width": 2, "channels": 1}
            language = self.language if self.language != "auto" else None
            chunks = [
                AudioChunk(**fmt, audio=pcm[i : i + _CHUNK_BYTES]).event()
                for i in range(0, len(pcm), _CHUNK_BYTES)
            ]
            call.send(
                Transcribe(name=self.model or None, language=language).event(),
                AudioStart(**fmt).event(),
                *chunks,
                AudioStop().event(),
            )
            text, said = self._read(call)
            asked = "" if self.language == "auto" else self.language  # "auto" is no language
            return text.strip()[: self.max_text_chars].rstrip(), said or asked
        finally:
            call.close()

    def _read(self, call: WyomingCall) -> tuple[str, str]:
        """The final text: a ``transcript``, or the streamed chunks up to ``transcript-stop``.

        Also the language the server says it heard ("" where it says none).
        """
        pieces: list[str] = []
        chars, language = 0, ""
        for _ in range(_MAX_EVENTS):
            event = call.receive()
            said = event.data.get("language")
            language = said if isinstance(said, str) and said else language
            if Transcript.is_type(event.type):
                return _text(call, event), language
            if TranscriptStop.is_type(event.type):
                return "".join(pieces), language
            if TranscriptStart.is_type(event.type):
                call.answered = True
            elif TranscriptChunk.is_type(event.type):
                call.answered = True
                pieces.append(_text(call, event))
                chars += len(pieces[-1])
                if chars > self.max_text_chars:
                    return "".join(pieces), language  # cut off at the limit: the rest unread
        raise call.failed(f"sent {_MAX_EVENTS} events without ending its transcript")


class WyomingTTS(WyomingRemote):
    """Text to speech on a Wyoming server, streamed; implements TextToSpeech."""

    sample_rate = VOICE_RATE

    def __init__(self, settings: RemoteRole, voice: str, max_audio_s: float) -> None:
        super().__init__("tts", settings)
        self.voice = voice or settings.remote_model  # a Wyoming voice is its model
        self.language = ""  # whatever the server's voice speaks
        self.max_samples = int(max_audio_s * VOICE_RATE)
        self._streams: bool | None = None  # the server's supports_synthesize_streaming

    def synthesize(self, text: str) -> Iterator[Pcm16]:
        """Yield the server's audio for ``text`` as it arrives (RemoteFailed when it cannot)."""
        answer, first = retrying(lambda: self._start(text), self.retries)
        try:
            pcm: Pcm16 | None = first
            while pcm is not None:
                yield pcm
                pcm = answer.next_audio()
        finally:
            answer.call.close()

    def served(self, info: Info) -> str:
        """``tts.voice`` when set, else the server's one voice (or its program's name).

        Also notes whether the server takes streamed text (``supports_synthesize_streaming``).
        """
        self._streams = any(p.supports_synthesize_streaming for p in info.tts)
        names = [v.name for p in info.tts for v in p.voices if v.installed]
        return self.voice or _one_name(names, [p.name for p in info.tts])

    def _start(self, text: str) -> tuple[_Answer, Pcm16 | None]:
        """Send the request and wait for the first audio (the part a retry may repeat)."""
        self.count()
        call = self.connect()
        try:
            if self._streams is None:
                self.served(call.describe())
            call.send(*self._request(text))
            answer = _Answer(self, call, streamed=bool(self._streams))
            return answer, answer.next_audio()
        except BaseException:
            call.close()
            raise

    def _request(self, text: str) -> list[Event]:
        voice = SynthesizeVoice(name=self.voice) if self.voice else None
        whole = Synthesize(text=text, voice=voice).event()
        if not self._streams:
            return [whole]
        # The whole ``synthesize`` too, as the protocol asks, for servers that read only it.
        start, chunk = SynthesizeStart(voice=voice).event(), SynthesizeChunk(text=text).event()
        return [start, chunk, whole, SynthesizeStop().event()]


class _Answer:
    """The audio of one synthesis as it arrives: converted, resampled and counted."""

    def __init__(self, tts: WyomingTTS, call: WyomingCall, streamed: bool) -> None:
        self.tts, self.call = tts, call
        self._end = SynthesizeStopped.is_type if streamed else AudioStop.is_type
        self._resampler = StreamResampler(VOICE_RATE, VOICE_RATE)
        self._sent = 0
        self._done = False
        self._over = False  # more audio came than tts.max_audio_s: the next call fails

    def next_audio(self) -> Pcm16 | None:
        """The next piece of audio; None at the end of the answer."""
        if self._over:
            raise self.tts.failed(
                f"sent more than {self.tts.max_samples / VOICE_RATE:g} s of audio for one "
                "piece of text (tts.max_audio_s)",
                before_answer=False,
            )
        if self._done:
            return None
        for _ in range(_MAX_EVENTS):
            event = self.call.receive()
            if self._end(event.type):
                self._done = True
                pcm = self._resampler.process(np.zeros(0, np.int16), last=True)
            elif AudioChunk.is_type(event.type):
                pcm = self._resampled(self._chunk(event))
            else:
                continue
            pcm = self._limit(pcm)
            if pcm.size:
                self.call.answered = True
                return pcm
            if self._done or self._over:
                return self.next_audio()
        raise self.call.failed(f"sent {_MAX_EVENTS} events without audio or an end")

    def _chunk(self, event: Event) -> tuple[Pcm16, int]:
        try:
            chunk = AudioChunk.from_event(event)
            return mono16(chunk.audio, chunk.width, chunk.channels), int(chunk.rate)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise self.call.failed(f"sent audio it does not describe ({exc})") from None

    def _resampled(self, chunk: tuple[Pcm16, int]) -> Pcm16:
        pcm, rate = chunk
        if not 4000 <= rate <= 192000:
            raise self.call.failed(f"sent audio at {rate} Hz")
        if rate == self._resampler.in_rate:
            return self._resampler.process(pcm)
        tail = self._resampler.process(np.zeros(0, np.int16), last=True)
        self._resampler = StreamResampler(rate, VOICE_RATE)  # the next sentence's voice
        return np.concatenate([tail, self._resampler.process(pcm)])

    def _limit(self, pcm: Pcm16) -> Pcm16:
        """``pcm`` up to ``tts.max_audio_s`` in all; past it, the next call fails."""
        room = self.tts.max_samples - self._sent
        if len(pcm) > room:
            pcm, self._over = pcm[:room], True
        self._sent += len(pcm)
        return pcm


def _text(call: WyomingCall, event: Event) -> str:
    """The text of a ``transcript`` or ``transcript-chunk`` (RemoteFailed where it has none)."""
    text = event.data.get("text")
    if not isinstance(text, str):
        raise call.failed(f"sent a {event.type} whose text is {type(text).__name__}")
    return text


def _one_name(models: list[str], programs: list[str]) -> str:
    """The one model a server lists, else its program's name.

    Where it lists many (Piper: its whole catalogue, all "installed" as it can fetch them),
    which one answers is the server's own choice.
    """
    if len(models) == 1:
        return models[0]
    return ", ".join(programs)


def mono16(audio: bytes, width: int, channels: int) -> Pcm16:
    """Interleaved PCM of 1, 2 or 4 bytes per sample as mono int16 (channels averaged)."""
    kinds = {1: "u1", 2: "<i2", 4: "<i4"}
    if width not in kinds or not 1 <= channels <= 16:
        raise ValueError(f"{width} bytes per sample, {channels} channels")
    frame = width * channels
    samples = np.frombuffer(audio[: len(audio) - len(audio) % frame], kinds[width])
    if width == 2 and channels == 1:
        return samples.astype(np.int16)
    scaled = samples.astype(np.float64)
    if width == 1:
        scaled = (scaled - 128.0) * 256.0
    elif width == 4:
        scaled /= 65536.0
    mixed: Pcm16 = scaled.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return mixed
