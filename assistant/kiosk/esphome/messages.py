"""Protobuf messages of the ESPHome native API to and from (type id, payload) frames.

The message classes and their ids are aioesphomeapi's, generated from ESPHome's ``api.proto``.
"""

from __future__ import annotations

from aioesphomeapi.core import MESSAGE_TYPE_TO_PROTO
from google.protobuf.message import Message

from assistant.kiosk.esphome.wire import Frame, WireError

TYPE_ID: dict[type[Message], int] = {cls: type_id for type_id, cls in MESSAGE_TYPE_TO_PROTO.items()}


def decode(frame: Frame) -> Message:
    """The message a frame carries; WireError for an unknown id or a payload that does not parse."""
    type_id, payload = frame
    cls = MESSAGE_TYPE_TO_PROTO.get(type_id)
    if cls is None:
        raise WireError(f"an unknown message type {type_id}")
    message: Message = cls()
    try:
        message.ParseFromString(payload)
    except Exception:  # DecodeError, or a RecursionError from nesting, both the peer's fault
        raise WireError(f"a payload that does not decode as {cls.__name__}") from None
    return message


def encode(message: Message) -> Frame:
    """The frame of ``message``; KeyError for a class that is not an API message."""
    return TYPE_ID[type(message)], message.SerializeToString()
