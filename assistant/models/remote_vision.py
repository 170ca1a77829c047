"""A vision model behind OpenAI's image input: ``vision.backend = "openai"``.

Any server whose ``/chat/completions`` takes ``image_url`` content parts answers: vLLM, llama.cpp's
server with a multimodal model, Ollama, another `assistant serve` with a vision model.
``vision.url`` is its ``/v1``. The picture goes as a PNG ``data:`` URL, prepared here (upright
RGB, no larger than ``vision.max_side``, or 1024 pixels, on its longer side: a phone's photo is
not uploaded whole; the server shrinks it further to its model's input), the question as a text
part. The answer streams back as server-sent events, with the server's token counts where it
gives them (``stream_options.include_usage``). ``vision.remote_model`` "" asks for the first
model the server lists, when the model is loaded (``reach``).

Timeouts, retries and failures are those of every remote role (remote_role.py): a server that
is down, refuses or answers garbage is one RemoteFailed, tried again ``vision.retries`` times
only while nothing of the answer has arrived. An answer far longer than ``max_tokens`` allows
(a server ignoring the limit) is cut off.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from assistant.config_sections import VisionSettings
from assistant.llm.openai_wire import (
    StreamEvent,
    UpstreamError,
    first_model,
    parse_event,
    streaming_body,
)
from assistant.models.interfaces import VisionStats
from assistant.models.openai_audio import _OpenAIRemote  # the pool, timeouts, status of a role
from assistant.models.remote_role import retrying
from assistant.vision.images import DEFAULT_MAX_SIDE, ImageInput, PreparedImage, prepare_image

# Characters one token may stand for, at most, before an answer counts as too long: generous
# (English averages four), so only a server ignoring ``max_tokens`` is cut off.
CHARS_PER_TOKEN_LIMIT = 16
# llama.cpp's server, asked about a picture by a model without a projector, answers 200 and an
# empty stream.
_UNFINISHED = "ended its answer without finishing it (does it serve a model that takes pictures?)"


class RemoteVision(_OpenAIRemote):
    """Answers questions about pictures on a server; implements VisionModel and Remote."""

    handler = "openai"  # the server puts the image into its model's prompt

    def __init__(self, settings: VisionSettings) -> None:
        super().__init__("vision", settings, settings.remote_model)
        self.name = settings.remote_model  # "" until the server has said what it serves
        self.max_side = settings.max_side or DEFAULT_MAX_SIDE
        self.n_ctx = settings.n_ctx  # bounds an answer without max_tokens
        self.stats = VisionStats()

    @classmethod
    def reach(cls, settings: VisionSettings) -> RemoteVision:
        """The model at ``vision.url``, once the server has said what it serves (RemoteFailed)."""
        model = cls(settings)
        try:
            retrying(model._served, model.retries)
        except BaseException:
            model.close()
            raise
        return model

    def prepare(self, image: ImageInput) -> PreparedImage:
        """Normalise an image for the upload (upright RGB, at most ``max_side`` pixels)."""
        return prepare_image(image, self.max_side)

    def describe(self, image_png: bytes, prompt: str, cancel: threading.Event) -> Iterator[str]:
        """Yield the answer to ``prompt`` about a PNG image (VisionModel)."""
        return self.answer(self.prepare(image_png), prompt, cancel=cancel)

    def answer(
        self,
        image: PreparedImage | None,
        prompt: str,
        max_tokens: int | None = 256,
        temperature: float = 0.1,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Stream the server's answer; with ``image`` None the question is asked alone.

        Nothing is sent before the first piece is asked for. RemoteFailed when the server
        cannot answer, or sends more than ``max_tokens`` can hold.
        """
        content: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
        if image is not None:
            content.insert(0, {"type": "image_url", "image_url": {"url": image.data_uri()}})
        messages = [{"role": "user", "content": content}]
        started = time.perf_counter()
        response = retrying(lambda: self._open(messages, max_tokens, temperature), self.retries)
        limit = (max_tokens or self.n_ctx) * CHARS_PER_TOKEN_LIMIT
        try:
            yield from self._read(response, limit, started, cancel)
        finally:  # which tells the server to stop
            response.close()

    def _open(
        self, messages: list[dict[str, Any]], max_tokens: int | None, temperature: float
    ) -> httpx.Response:
        """Send the question; the answer's head, checked (the part a retry may repeat)."""
        sampling = {"temperature": temperature}
        body = streaming_body(
            self._served(), max_tokens, [], sampling, include_usage=True, messages=messages
        )
        self._count()
        try:
            response = self._http.send(
                self._http.build_request("POST", "/chat/completions", json=body), stream=True
            )
        except httpx.HTTPError as exc:
            raise self._http_failed(exc) from None
        try:
            self._check(response)
            kind = response.headers.get("content-type", "")
            if not kind.startswith("text/event-stream"):
                head = next(response.iter_bytes(200), b"").decode(errors="replace")
                raise self._failed(f"answered without streaming ({head})", before_answer=False)
        except BaseException:
            response.close()
            raise
        return response

    def _served(self) -> str:
        """The model to ask for: ``remote_model``, or the first the server lists."""
        if not self.model:
            try:
                listed = self._http.get("/models")
                self._check(listed)  # a refusal (a wrong key) is not asked again
                self.model = self.name = first_model(listed.json())
            except httpx.HTTPError as exc:
                raise self._http_failed(exc) from None
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise self._failed(f"lists no model ({type(exc).__name__}: {exc})") from None
        return self.model

    def _read(
        self,
        response: httpx.Response,
        limit: int,
        started: float,
        cancel: threading.Event | None,
    ) -> Iterator[str]:
        stats, first, sent, pieces = VisionStats(), 0.0, 0, 0
        try:
            for line in response.iter_lines():
                event = self._event(line)
                if event is None:
                    continue
                _count_usage(stats, event)
                if event.text:
                    sent += len(event.text)
                    if sent > limit:
                        raise self._failed(
                            f"sent more than {limit} characters for one answer", False
                        )
                    first = first or time.perf_counter()
                    pieces += 1
                    yield event.text
                if cancel is not None and cancel.is_set():
                    stats.finish_reason = ""
                    break
            else:  # every server ends an answer with a finish reason
                if not stats.finish_reason:
                    raise self._failed(_UNFINISHED, before_answer=False)
        except httpx.HTTPError as exc:
            why = f"broke off its answer ({type(exc).__name__}: {exc})"
            raise self._failed(why, before_answer=False) from None
        finally:
            ended = time.perf_counter()
            stats.completion_tokens = stats.completion_tokens or pieces  # the server's, if given
            stats.timings_ms = {
                "first_token": round(((first or ended) - started) * 1000, 1),
                "total": round((ended - started) * 1000, 1),
            }
            self.stats = stats

    def _event(self, line: str) -> StreamEvent | None:
        """One event of the stream; RemoteFailed for an error event or one of the wrong shape."""
        try:
            return parse_event(line, self.url)
        except UpstreamError as exc:
            raise self._failed(f"broke off its answer: {exc}", before_answer=False) from None


def _count_usage(stats: VisionStats, event: StreamEvent) -> None:
    """Take the event's finish reason and the server's own token counts, where it gives them."""
    if event.finish_reason:
        stats.finish_reason = event.finish_reason
    if event.prompt_tokens is not None:
        stats.prompt_tokens = event.prompt_tokens
    if event.completion_tokens is not None:
        stats.completion_tokens = event.completion_tokens
