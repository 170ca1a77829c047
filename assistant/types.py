"""The few value types every layer shares: audio sample arrays and a chat message.

They sit at the bottom of the package so that audio, conversion and the chat template need not
import the models layer for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Pcm16 = npt.NDArray[np.int16]  # mono 16-bit samples
Float32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation."""

    role: str  # system | user | assistant
    content: str
