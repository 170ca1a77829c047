"""The settings every model role that can run on a remote server shares (stt, tts, vision)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assistant.errors import ConfigError


class RemoteRole(BaseModel):
    """Where a model role runs: on this machine, or on a server the user already runs.

    ``backend`` "local" loads ``model`` here; "openai" speaks OpenAI's API at ``url`` (its
    ``/v1``: speaches, vLLM, llama.cpp's server, another `assistant serve`); "wyoming" speaks
    the Wyoming protocol at ``url`` (tcp://host:port). See models/remote_role.py.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    url: str = ""  # the remote server: http://host:8000/v1 (openai), tcp://host:10300 (wyoming)
    api_key: str = ""  # openai: sent as a Bearer token when set
    remote_model: str = ""  # the model to ask the remote for; "" = the server's own choice
    timeout_s: float = Field(30.0, gt=0, le=600)  # no answer (or no next piece) by then fails
    connect_timeout_s: float = Field(3.0, gt=0, le=60)  # a server that is not there, said soon
    retries: int = Field(1, ge=0, le=5)  # a call that failed before any answer, tried again
    # "local": when the remote fails, the call is made on the local ``model`` instead (loaded
    # on the first failure).
    fallback: Literal["none", "local"] = "none"

    @model_validator(mode="after")
    def _keys_only_where_sent(self) -> RemoteRole:
        if getattr(self, "backend", "") == "wyoming" and self.api_key:
            raise ValueError(
                "api_key is sent only to an openai backend; the Wyoming protocol has no keys "
                "(keep its port on a private network)"
            )
        return self

    def remote_url(self, role: str) -> str:
        """``url`` for a remote backend (ConfigError, naming the fix, when unset)."""
        if not self.url:
            example = _EXAMPLE_URLS.get(getattr(self, "backend", ""), "http://host:8000/v1")
            raise ConfigError(f'a remote {role}.backend needs {role}.url (e.g. "{example}")')
        return self.url.rstrip("/")


_EXAMPLE_URLS = {"wyoming": "tcp://host:10300", "openai": "http://host:8000/v1"}


def named_for_fallback(role: str, backend: str, fallback: str, remote_model: str) -> None:
    """ValueError unless a remote with ``fallback = "local"`` names its model.

    The name is asked of the server only when unset, which a server that is down at start
    cannot answer: a fallback that must work then needs the name given.
    """
    if backend == "openai" and fallback == "local" and not remote_model:
        raise ValueError(
            f'fallback = "local" needs {role}.remote_model (the model to ask the server for), '
            "so that the server need not be asked for it at start"
        )
