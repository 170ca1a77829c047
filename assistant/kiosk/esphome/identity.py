"""Who the kiosk is on the ESPHome native API: its name, MAC, version and voice features.

Home Assistant keys the device on its MAC and its entities on the MAC plus their object ids, so
every value here must stay the same across restarts: the MAC comes from the machine
(``uuid.getnode``), and the default name is derived from it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from assistant import __version__
from assistant.config_kiosk import DEVICE_NAME, encryption_key
from assistant.errors import ConfigError


@dataclass(frozen=True)
class DeviceIdentity:
    """The values the kiosk announces in hello, the noise server hello, device info and mDNS."""

    name: str  # hostname-style, at most 31 characters of [a-z0-9-]
    friendly_name: str  # what Home Assistant shows; may be ""
    mac: str  # "AA:BB:CC:DD:EE:FF", as firmware sends it
    version: str  # the package version, sent as esphome_version and project_version
    feature_flags: int  # voice_assistant_feature_flags (aioesphomeapi.VoiceAssistantFeature bits)

    def __post_init__(self) -> None:
        if not DEVICE_NAME.fullmatch(self.name):
            raise ConfigError(
                f"device name {self.name!r} is not usable on the ESPHome API: "
                "use 1 to 31 characters of a-z, 0-9 and '-' (not at either end)"
            )

    @property
    def mac_hex(self) -> str:
        """The MAC as 12 lower-case hex digits, as the noise server hello and mDNS carry it."""
        return self.mac.replace(":", "").lower()

    @classmethod
    def for_this_machine(
        cls, name: str = "", friendly_name: str = "", feature_flags: int = 0
    ) -> DeviceIdentity:
        """The device this machine is; an empty ``name`` becomes ``assistant-`` + the MAC's end."""
        digits = f"{uuid.getnode():012X}"
        mac = ":".join(digits[i : i + 2] for i in range(0, 12, 2))
        return cls(
            name=name or f"assistant-{digits[-6:].lower()}",
            friendly_name=friendly_name,
            mac=mac,
            version=__version__,
            feature_flags=feature_flags,
        )


def check_key(key: str) -> bytes:
    """The raw 32-byte noise pre-shared key from its base64 text (ESPHome's api encryption key).

    ConfigError, in one line naming the fix, for anything else.
    """
    try:
        return encryption_key(key.strip())
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
