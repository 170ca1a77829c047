"""Speech endpoints: transcription of any uploaded audio, and speech synthesis in common formats."""

from __future__ import annotations

import contextlib
import io
import time
import wave
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from pydantic import ConfigDict, Field

from assistant.convert.api import convert_audio_bytes, resample
from assistant.convert.audio_decode import decode
from assistant.errors import InputError
from assistant.server.limits import MAX_SPEECH_CHARS
from assistant.server.native import engine_of
from assistant.server.schemas import Body
from assistant.types import Pcm16

router = APIRouter()
SPEECH_RATE = 24000  # Hertz of every synthesized output (OpenAI's rate for pcm)
_MEDIA = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "flac": "audio/flac",
    "aac": "audio/aac",
    "pcm": "application/octet-stream",
}
AudioFormat = Literal["wav", "mp3", "opus", "flac", "aac", "pcm"]


class SpeakRequest(Body):
    """POST /api/speak."""

    text: str = Field(min_length=1, max_length=MAX_SPEECH_CHARS)
    format: AudioFormat = "wav"


class SpeechRequest(Body):
    """POST /v1/audio/speech (OpenAI's shape; ``voice`` is accepted, the configured one speaks)."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    input: str = Field(min_length=1, max_length=MAX_SPEECH_CHARS)
    voice: str | None = None
    response_format: AudioFormat = "mp3"


async def _transcribe(request: Request, upload: UploadFile) -> dict[str, Any]:
    data = await upload.read()
    pcm = decode(data, 16000, 1).samples.reshape(-1)
    limit = engine_of(request).settings.server.max_audio_s
    if len(pcm) > limit * 16000:
        raise InputError(
            f"the audio lasts {len(pcm) / 16000:.0f} s; at most {limit:g} s is accepted "
            "(server.max_audio_s)"
        )
    started = time.perf_counter()
    transcript = await engine_of(request).hub.transcribe(pcm.astype(np.int16, copy=False))
    return {
        "text": transcript.text,
        "language": transcript.language,
        "duration_s": round(len(pcm) / 16000, 3),
        "processing_ms": round((time.perf_counter() - started) * 1000, 1),
    }


async def _speech(request: Request, text: str, fmt: str) -> Response:
    """The speech of ``text``; ``pcm`` streams sentence by sentence, the others are whole files."""
    hub = engine_of(request).hub
    rate = (await hub.tts()).sample_rate
    stream = hub.speak_stream(text)
    first = await anext(stream, None)
    if first is None:
        raise InputError("the text has nothing to speak (no words or numbers)")
    if fmt == "pcm":  # raw samples can be played as they come: first audio after one sentence
        return StreamingResponse(_pcm_pieces(first, stream, rate), media_type=_MEDIA[fmt])
    async with contextlib.aclosing(stream):
        pieces = [first] + [pcm async for pcm in stream]
    pcm = resample(np.concatenate(pieces), rate, SPEECH_RATE).astype(np.int16)
    return Response(encode(pcm, fmt), media_type=_MEDIA[fmt])


async def _pcm_pieces(
    first: Pcm16, rest: AsyncGenerator[Pcm16, None], rate: int
) -> AsyncIterator[bytes]:
    """Each piece of speech at SPEECH_RATE as it is made; a client that leaves stops the voice."""
    async with contextlib.aclosing(rest):
        yield encode(resample(first, rate, SPEECH_RATE).astype(np.int16), "pcm")
        async for pcm in rest:
            yield encode(resample(pcm, rate, SPEECH_RATE).astype(np.int16), "pcm")


def encode(pcm: Pcm16, fmt: str) -> bytes:
    """Mono int16 at SPEECH_RATE as ``fmt`` (raw little-endian samples for ``pcm``)."""
    if fmt == "pcm":
        return pcm.astype("<i2").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SPEECH_RATE)
        w.writeframes(pcm.astype("<i2").tobytes())
    return buffer.getvalue() if fmt == "wav" else convert_audio_bytes(buffer.getvalue(), fmt)


@router.post("/api/transcribe")
async def transcribe(request: Request, file: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008
    """Speech to text of an uploaded file in any format."""
    return await _transcribe(request, file)


@router.post("/api/speak")
async def speak(body: SpeakRequest, request: Request) -> Response:
    """Text to speech; ``format`` wav (default), mp3, opus, flac, aac or pcm (24 kHz 16-bit)."""
    return await _speech(request, body.text, body.format)


@router.post("/v1/audio/transcriptions", response_model=None)
async def openai_transcriptions(
    request: Request,
    file: UploadFile = File(...),  # noqa: B008
    model: str = Form("whisper-1"),
    response_format: Literal["json", "text", "verbose_json"] = Form("json"),
) -> dict[str, Any] | PlainTextResponse:
    """OpenAI-style transcription."""
    result = await _transcribe(request, file)
    if response_format == "text":
        return PlainTextResponse(result["text"])
    if response_format == "verbose_json":
        return {
            "task": "transcribe",
            "language": result["language"],
            "duration": result["duration_s"],
            "text": result["text"],
            "segments": [],
        }
    return {"text": result["text"]}


@router.post("/v1/audio/speech")
async def openai_speech(body: SpeechRequest, request: Request) -> Response:
    """OpenAI-style speech synthesis."""
    return await _speech(request, body.input, body.response_format)
