"""``vision.fallback = "local"``: a remote vision model that hands its questions to the local one.

As with speech (fallback.py): a question goes to the server first; when it fails before the
first words of the answer, the failure is one log line and the local ``vision.model`` answers
(loaded on the first failure), and the server rests for the cool-down. An answer that broke
off after it began stays that turn's error: its first words were already given.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from assistant.models.fallback import COOL_DOWN_S, _Fallback
from assistant.models.interfaces import VisionModel, VisionStats
from assistant.models.remote_role import RemoteFailed
from assistant.models.remote_vision import RemoteVision
from assistant.vision.images import ImageInput, PreparedImage


class FallbackVision(_Fallback[VisionModel]):
    """Answers from the remote server, else from the local model; implements VisionModel."""

    def __init__(
        self,
        remote: RemoteVision,
        load_local: Callable[[], VisionModel],
        cool_down_s: float = COOL_DOWN_S,
    ) -> None:
        super().__init__(remote, load_local, cool_down_s)
        self.vision = remote
        self.name, self.handler = remote.name, remote.handler
        self._last: VisionModel = remote  # the model whose answer ended last

    @property
    def stats(self) -> VisionStats:
        """The figures of the answer that ended last, whichever model gave it."""
        return self._last.stats

    @stats.setter
    def stats(self, value: VisionStats) -> None:
        self._last.stats = value

    def prepare(self, image: ImageInput) -> PreparedImage:
        """Normalise an image for the upload (the local model prepares its own again)."""
        return self.vision.prepare(image)

    def describe(self, image_png: bytes, prompt: str, cancel: threading.Event) -> Iterator[str]:
        """Yield the answer to ``prompt`` about a PNG image."""
        return self.answer(self.prepare(image_png), prompt, cancel=cancel)

    def answer(
        self,
        image: PreparedImage | None,
        prompt: str,
        max_tokens: int | None = 256,
        temperature: float = 0.1,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """The server's answer; the local model's when the server fails before its first words."""
        if self._ask_remote():
            pieces = self.vision.answer(image, prompt, max_tokens, temperature, cancel)
            try:
                first = next(pieces)
            except StopIteration:
                self._last = self.vision
                return
            except RemoteFailed as exc:
                self._failed(exc)
            else:
                self._last = self.vision
                yield first
                yield from pieces
                return
        local = self._local_model()
        self._last = local
        mine = local.prepare(image.png) if image is not None else None
        yield from local.answer(mine, prompt, max_tokens, temperature, cancel)

    def close(self) -> None:
        """Close the server's connections and the local model, if it was loaded."""
        super().close()
        if self._local is not None:
            self._local.close()
