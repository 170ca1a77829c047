"""The server's own answers: hello, device info and the fixed parts of the API's handshake."""

from __future__ import annotations

from aioesphomeapi import api_pb2

from assistant.kiosk.esphome.identity import DeviceIdentity

API_VERSION = (1, 14)  # the API version of the ESPHome release whose api.proto aioesphomeapi ships
MODEL = "kiosk"
MANUFACTURER = "assistant"
# Home Assistant splits project_name at its dot into manufacturer and model.
PROJECT_NAME = "assistant.kiosk"


def hello(identity: DeviceIdentity) -> api_pb2.HelloResponse:
    """The answer to HelloRequest: the API version and the device's name."""
    return api_pb2.HelloResponse(
        api_version_major=API_VERSION[0],
        api_version_minor=API_VERSION[1],
        server_info=f"assistant {identity.version}",
        name=identity.name,
    )


def device_info(identity: DeviceIdentity) -> api_pb2.DeviceInfoResponse:
    """The answer to DeviceInfoRequest.

    ``api_encryption_supported`` stays false: Home Assistant would then send a key to store
    (NoiseEncryptionSetKeyRequest), and the key here comes from the configuration only.
    """
    return api_pb2.DeviceInfoResponse(
        uses_password=False,
        name=identity.name,
        friendly_name=identity.friendly_name,
        mac_address=identity.mac,
        esphome_version=identity.version,
        model=MODEL,
        manufacturer=MANUFACTURER,
        project_name=PROJECT_NAME,
        project_version=identity.version,
        voice_assistant_feature_flags=identity.feature_flags,
        api_encryption_supported=False,
    )


# Messages a client sends that need no answer and no handling: pongs, the time it was asked for
# (never asked here), and Home Assistant's offers to run actions and share states for the device.
IGNORED: tuple[type, ...] = (
    api_pb2.PingResponse,
    api_pb2.GetTimeResponse,
    api_pb2.SubscribeHomeassistantServicesRequest,
    api_pb2.SubscribeHomeAssistantStatesRequest,
)
