"""The one way a conversation's chat model is built, for the CLI, the hub and the kiosk.

``chat_model`` makes the ``llm`` role's model of the settings (a context of its own on the
local GGUF weights, or the remote model of ``llm.backend = "openai"``) and, for a conversation
with eyes, wraps it once in the vision model's ``SeeingChatModel``. A command (`assistant chat`,
`ask`) loads what it needs; a long-running process opens it on what its hub already holds
(``SharedChat``: the loaded weights, or the remote server's client).
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

from assistant.catalog import ModelStore
from assistant.config import Settings
from assistant.hardware import gpu_layers
from assistant.llm.model import Model
from assistant.models.fallback_chat import FallbackChat
from assistant.models.interfaces import VisionModel, VoiceModel
from assistant.models.llama_chat import LlamaChatModel
from assistant.models.openai_client import OpenAIClient, openai_client
from assistant.models.remote_chat import RemoteChatModel
from assistant.models.seeing import Eyes, SeeingChatModel


@dataclass(frozen=True)
class SharedChat:
    """What a conversation's chat model opens on; nothing set: it loads its own."""

    weights: Model | None = None  # loaded GGUF weights, shared by every conversation
    client: OpenAIClient | None = None  # a remote server's client, shared (not closed with it)
    name: str = ""  # the remote model's name (with ``client``)


def chat_model(
    settings: Settings,
    shared: SharedChat | None = None,
    eyes: Eyes | None = None,
    vision: VisionModel | Future[VisionModel] | None = None,
) -> VoiceModel:
    """The chat model of one conversation; closing it frees its context, not shared weights.

    With ``eyes`` turns with a picture go to ``vision`` (None: not loaded yet, see
    SeeingChatModel; a Future: loading beside the chat model, waited for once it is loaded).
    """
    chat = _open(settings, shared or SharedChat())
    if eyes is None:
        return chat
    try:
        seeing = vision.result() if isinstance(vision, Future) else vision
    except BaseException:
        chat.close()
        raise
    return SeeingChatModel(chat, seeing, eyes)


def _open(settings: Settings, shared: SharedChat) -> VoiceModel:
    """The bare chat model, on ``shared`` or loaded from the settings."""
    s = settings.llm
    if shared.client is not None:
        chat = RemoteChatModel(shared.client, shared.name, s.n_ctx, owns_client=False)
        return _with_fallback(settings, chat)
    if shared.weights is not None:
        return LlamaChatModel(shared.weights, s.n_ctx, s.threads)
    if s.backend == "openai":
        client = openai_client(settings)
        try:  # "" asks the server for its first model, which may fail
            return _with_fallback(settings, RemoteChatModel(client, s.remote_model, s.n_ctx))
        except BaseException:
            client.close()
            raise
    path = ModelStore(settings.models_dir).resolve("llm", s.model).path
    return LlamaChatModel.load(path, s.n_ctx, s.threads, gpu_layers("llm", s.gpu_layers))


def _with_fallback(settings: Settings, remote: VoiceModel) -> VoiceModel:
    """``remote``, with ``llm.fallback = "local"`` wrapped so the local model stands in."""
    s = settings.llm
    if s.fallback != "local":
        return remote
    path = ModelStore(settings.models_dir).resolve("llm", s.model).path  # missing: fails now
    return FallbackChat(remote, path, s.n_ctx, s.threads, gpu_layers("llm", s.gpu_layers))
