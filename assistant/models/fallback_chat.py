"""The local chat model standing in for a remote one that fails: ``llm.fallback = "local"``.

A conversation's chat model on a remote server (``llm.backend = "openai"``) is wrapped in
``FallbackChat``. A reply the server refuses, or cannot be reached for, before the first piece
of text arrives is made by the local ``llm.model`` instead, and the turn is answered; a reply
that breaks off after it started is the turn's error as before (its first words were already
spoken, and a second voice finishing them would not make sense). After a failure the remote is
left alone for ``COOL_DOWN_S``, so each turn does not wait for a server that is down again;
then it is asked first again.

The local weights are loaded on the first failure, once per process, and shared by every
conversation (each has a context of its own on them, as with a local backend).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.llm.openai_wire import UpstreamError
from assistant.models.interfaces import VoiceModel
from assistant.models.request import TextRequest, Usage
from assistant.types import ChatMessage

if TYPE_CHECKING:
    from assistant.llm.model import Model
    from assistant.llm.turn_end import TurnEndScore

log = logging.getLogger(__name__)
COOL_DOWN_S = 30.0  # after a failure, replies go to the local model this long

_weights: dict[Path, Model] = {}  # path -> the local weights, loaded once per process
_loading = threading.Lock()


def local_weights(path: Path, gpu_layers: int) -> Model:
    """The weights at ``path``, loaded on first use and shared (ModelError when unusable)."""
    from assistant.llm.model import Model

    with _loading:
        if path not in _weights:
            _weights[path] = Model.load(path, n_gpu_layers=gpu_layers)
        return _weights[path]


class FallbackChat:
    """A remote chat model, with the local one answering when the remote fails to start."""

    def __init__(
        self, remote: VoiceModel, path: Path, n_ctx: int, threads: int, gpu_layers: int
    ) -> None:
        self.remote = remote
        self.free_grammar = remote.free_grammar
        self.scores_turn_end = remote.scores_turn_end
        self._path, self._n_ctx, self._threads, self._layers = path, n_ctx, threads, gpu_layers
        self._local: VoiceModel | None = None
        self._failed_at = -COOL_DOWN_S  # monotonic time of the last failure
        self.fell_back = 0  # replies the local model made

    def stream_chat(
        self,
        messages: list[ChatMessage],
        request: TextRequest,
        cancel: threading.Event,
        usage: Usage | None = None,
    ) -> Generator[str, None, str]:
        """The remote's reply; the local model's when the remote fails before its first piece."""
        if time.monotonic() - self._failed_at >= COOL_DOWN_S:
            pieces = self.remote.stream_chat(messages, request, cancel, usage)
            try:
                first = next(pieces)
            except StopIteration as done:
                return str(done.value)
            except UpstreamError as exc:
                self._failed_at = time.monotonic()
                log.warning("%s; the local model answers (llm.fallback)", exc)
            else:
                yield first
                return (yield from pieces)
        self.fell_back += 1
        return (yield from self._local_model().stream_chat(messages, request, cancel, usage))

    def _local_model(self) -> VoiceModel:
        if self._local is None:
            from assistant.models.llama_chat import LlamaChatModel

            weights = local_weights(self._path, self._layers)
            self._local = LlamaChatModel(weights, self._n_ctx, self._threads)
        return self._local

    def prefill(self, messages: list[ChatMessage], open_end: bool = False) -> None:
        """Left to the remote server, which caches prompts itself."""
        self.remote.prefill(messages, open_end)

    def turn_end(self, messages: list[ChatMessage]) -> TurnEndScore | None:
        """The remote's opinion (None: a remote server gives none)."""
        return self.remote.turn_end(messages)

    def interrupt(self) -> None:
        """Stop whichever model is running."""
        self.remote.interrupt()
        if self._local is not None:
            self._local.interrupt()

    def fit_history(self, messages: list[ChatMessage], max_tokens: int) -> list[ChatMessage]:
        """Fitted on the remote's estimate (the local model has the same ``n_ctx``)."""
        return self.remote.fit_history(messages, max_tokens)

    def close(self) -> None:
        """Close both; the shared local weights stay for other conversations."""
        self.remote.close()
        if self._local is not None:
            self._local.close()
