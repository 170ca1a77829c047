"""The ``[kiosk]`` settings: the always-on kiosk, and its Home Assistant satellite mode."""

from __future__ import annotations

import base64
import binascii
import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assistant.addresses import is_loopback

DEVICE_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,29}[a-z0-9])?")
NEW_KEY_HINT = "e.g. the output of `openssl rand -base64 32`"


class KioskSettings(BaseModel):
    """The always-on kiosk (``assistant kiosk``)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # A built-in wake word (okay_nabu, hey_jarvis, hey_mycroft, alexa) heard in front of the
    # VAD: only after it does a turn open. "" = none (every turn, or --wake-phrase); with
    # home_assistant, "" is okay_nabu (Home Assistant may choose another one).
    wake_word: str = ""
    follow_up_s: float = Field(8.0, gt=0)  # after a reply (or the wake word), no wake needed
    # Home Assistant's voice satellite over the ESPHome native API (README "Home Assistant").
    home_assistant: bool = False
    home_assistant_host: str = "0.0.0.0"  # a non-loopback address needs home_assistant_key
    home_assistant_port: int = Field(6053, ge=0, le=65535)  # 0: any free port (tests)
    home_assistant_key: str = ""  # the API encryption key: 32 bytes, base64 (as ESPHome's)
    device_name: str = ""  # how Home Assistant names the device; "" = assistant-<mac tail>
    timer_ring_s: float = Field(300.0, gt=0)  # a finished timer rings until "stop" or this
    chime: bool = True  # chimes on a run's start and on errors

    @model_validator(mode="after")
    def _satellite_is_safe(self) -> KioskSettings:
        if self.home_assistant_key:
            encryption_key(self.home_assistant_key)
        if self.device_name and not DEVICE_NAME.fullmatch(self.device_name):
            raise ValueError(
                f"kiosk.device_name {self.device_name!r} is not a device name: use up to 31 "
                "lower-case letters, digits and inner dashes, e.g. kitchen-kiosk"
            )
        if (
            self.home_assistant
            and not self.home_assistant_key
            and not is_loopback(self.home_assistant_host)
        ):
            raise ValueError(
                f"kiosk.home_assistant_host {self.home_assistant_host} is reachable from the "
                "network: set kiosk.home_assistant_key (32 random bytes in base64, "
                f"{NEW_KEY_HINT}) and give the same key to Home Assistant"
            )
        return self


def encryption_key(key: str) -> bytes:
    """The 32 bytes of a base64 API encryption key (ValueError naming the fix otherwise)."""
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError(f"kiosk.home_assistant_key is not 32 bytes in base64 ({NEW_KEY_HINT})")
    return raw
