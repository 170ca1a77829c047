"""The "look" tool: a camera frame described by the vision model, when both are configured."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from assistant.errors import DeviceError
from assistant.llm.toolcall import ToolSpec
from assistant.models.interfaces import VisionModel
from assistant.tools.toolbox import Tool, ToolError
from assistant.vision.camera import Camera


def look_tool(vision: VisionModel, camera: str, max_tokens: int = 128) -> Tool:
    """``look``: what the camera (``camera``: a device, "" = the default) sees right now."""

    def see(question: str, cancel: threading.Event) -> str:
        try:
            with Camera(camera) as device:
                picture = vision.prepare(device.snapshot())
        except DeviceError as exc:
            raise ToolError(str(exc)) from None
        return "".join(vision.answer(picture, question, max_tokens, cancel=cancel)).strip()

    async def run(arguments: dict[str, Any]) -> str:
        cancel = threading.Event()
        question = arguments.get("question") or "Describe what you see."
        try:
            return await asyncio.to_thread(see, question, cancel)
        finally:  # a cancelled turn (barge-in) stops the vision model within a token
            cancel.set()

    spec = ToolSpec(
        "look",
        "Look through the camera and answer a question about what is there.",
        {
            "type": "object",
            "properties": {"question": {"type": "string", "maxLength": 200}},
            "additionalProperties": False,
        },
    )
    return Tool(spec, run)
