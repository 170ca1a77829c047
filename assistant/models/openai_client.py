"""The one client of an OpenAI-compatible server (llama.cpp server, vLLM, Ollama, assistant).

Both faces of the remote backend use it: the server's text backend (``RemoteText``, async,
which reads raw completions on worker threads of its own) and the chat model
(``RemoteChatModel``: the server's chat requests, on those threads, and each conversation's,
on its LLM stage's thread). It is a synchronous ``httpx.Client``,
which is safe to share between threads, so one connection pool serves the whole process.
``openai_client`` is the one place it is made from the settings, with one timeout rule.
Answers that are not what an OpenAI server sends become ``UpstreamError`` (see openai_wire).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import httpx

from assistant.config import Settings
from assistant.llm.openai_wire import (
    StreamEvent,
    auth_headers,
    first_model,
    no_server,
    parse_event,
    refusal,
    unreachable,
)


class OpenAIClient:
    """A connection pool to the server at ``base_url`` (its ``/v1``), with its key."""

    def __init__(
        self, base_url: str, api_key: str, timeout: httpx.Timeout, retries: int = 0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries  # a stream refused (5xx) or unreachable is opened again this often
        self._http = httpx.Client(
            base_url=self.base_url, headers=auth_headers(api_key), timeout=timeout
        )

    def first_model(self) -> str:
        """The first model the server lists (ModelError, naming the setting, if it cannot)."""
        try:
            response = self._http.get("/models")
            response.raise_for_status()
            return first_model(response.json())
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise no_server(self.base_url, exc) from None

    def ready(self, timeout: float = 2.0) -> bool:
        """Whether the server answers its model list within ``timeout`` seconds."""
        try:
            return self._http.get("/models", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def stream(self, path: str, body: dict[str, Any]) -> Generator[StreamEvent, None, None]:
        """POST a streamed completion to ``path`` and yield its events as they arrive.

        A server that cannot be reached, or answers 5xx, before any event is asked again up to
        ``retries`` times (0.2 s, 0.4 s, ... apart): nothing of the reply was seen, so nothing
        is repeated. Closing the iterator closes the stream, which an OpenAI-compatible server
        takes as the end of the request (its slot is free again).
        """
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                with self._http.stream("POST", path, json=body) as response:
                    if response.status_code < 500 or last:  # else asked again below
                        _check(response, self.base_url)
                        for line in response.iter_lines():
                            event = parse_event(line, self.base_url)
                            if event is not None:
                                yield event
                        return
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if last:
                    raise unreachable(self.base_url, exc) from None
            except httpx.HTTPError as exc:
                raise unreachable(self.base_url, exc) from None
            time.sleep(0.2 * (attempt + 1))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST ``body`` and return the JSON answer (UpstreamError for a refusal or no JSON)."""
        try:
            response = self._http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise unreachable(self.base_url, exc) from None
        if response.status_code >= 400:
            raise refusal(self.base_url, response.status_code, response.content)
        try:
            return response.json()
        except ValueError:
            raise refusal(self.base_url, 502, b"answered without JSON") from None

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()


def openai_client(settings: Settings) -> OpenAIClient:
    """The client of ``llm.base_url`` with ``llm.api_key`` (ConfigError without a URL).

    ``llm.timeout_s`` is how long the server may be silent (before the first piece of a
    reply, and between pieces), ``llm.connect_timeout_s`` how long a connection may take: a
    server that is not there, or hangs, is said so soon. The whole of a long reply is bounded
    by the caller (``server.request_timeout_s`` for a served request).
    """
    s = settings.llm
    timeout = httpx.Timeout(s.timeout_s, connect=s.connect_timeout_s)
    return OpenAIClient(s.remote_url(), s.api_key, timeout, s.retries)


def _check(response: httpx.Response, base_url: str) -> None:
    """Raise UpstreamError unless ``response`` is a stream of server-sent events."""
    if not response.is_success:
        raise refusal(base_url, response.status_code, response.read())
    kind = response.headers.get("content-type", "")
    if not kind.startswith("text/event-stream"):
        body = response.read()
        raise refusal(base_url, 502, b"answered without streaming (" + body[:200] + b")")
