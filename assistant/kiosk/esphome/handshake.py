"""The start of a connection: pick the framing from the first byte, and run the noise responder.

A device with a key refuses plaintext clients, one without refuses noise clients, and a wrong
key fails the handshake; each refusal is the exact frame ESPHome firmware sends, because the
client tells the three apart by those bytes (RequiresEncryptionAPIError,
EncryptionPlaintextAPIError, InvalidEncryptionKeyAPIError).
"""

from __future__ import annotations

import asyncio
import struct

from aioesphomeapi._frame_helper.noise_encryption import (
    ESPHOME_NOISE_BACKEND,
    NOISE_PROTOCOL_NAME,
    DecryptCipher,
    EncryptCipher,
)
from cryptography.exceptions import InvalidTag
from noise.connection import NoiseConnection

from assistant.kiosk.esphome.identity import DeviceIdentity
from assistant.kiosk.esphome.wire import (
    NoiseWire,
    PlainWire,
    Wire,
    WireError,
    noise_frame,
    read_noise_frame,
)

# A plaintext client meets an encrypted device: a noise frame whose body starts with 0x01.
REFUSE_PLAINTEXT = noise_frame(b"\x01Bad indicator byte")
# A noise client meets a plaintext device: raw bytes, no framing, as firmware writes them.
REFUSE_NOISE = b"\x00Bad indicator byte"
WRONG_KEY = noise_frame(b"\x01Handshake MAC failure")


class Refused(Exception):
    """The peer is refused: ``reply`` is what the device sends before it closes."""

    def __init__(self, cause: str, reply: bytes) -> None:
        super().__init__(cause)
        self.reply = reply


async def open_wire(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    identity: DeviceIdentity,
    key: bytes | None,
) -> Wire:
    """The connection's framing, after the noise handshake when ``key`` is set.

    Refused for a client of the other kind or with a wrong key; WireError for a first byte that
    is neither kind's.
    """
    first = (await reader.readexactly(1))[0]
    if first not in (0x00, 0x01):
        raise WireError(f"a bad preamble byte 0x{first:02x}")
    if key is None:
        if first == 0x01:
            raise Refused("a noise client, but this device has no encryption key", REFUSE_NOISE)
        return PlainWire(reader)
    if first == 0x00:
        raise Refused("a plaintext client, but this device requires encryption", REFUSE_PLAINTEXT)
    return await _noise_handshake(reader, writer, identity, key)


async def _noise_handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    identity: DeviceIdentity,
    key: bytes,
) -> NoiseWire:
    """Client hello, server hello (name and MAC), then Noise NNpsk0 as the responder."""
    client_hello = await read_noise_frame(reader, preamble_read=True)
    server_hello = b"\x01%s\x00%s\x00" % (identity.name.encode(), identity.mac_hex.encode())
    writer.write(noise_frame(server_hello))
    proto = NoiseConnection.from_name(NOISE_PROTOCOL_NAME, backend=ESPHOME_NOISE_BACKEND)
    proto.set_as_responder()
    proto.set_psks(key)
    # Both sides bind the client hello into the handshake, so a tampered hello fails the MAC.
    proto.set_prologue(b"NoiseAPIInit" + struct.pack(">H", len(client_hello)) + client_hello)
    proto.start_handshake()
    message = await read_noise_frame(reader)
    if not message:
        raise Refused("an empty handshake message", noise_frame(b"\x01Empty handshake message"))
    if message[0] != 0x00:
        raise Refused("a bad handshake message", noise_frame(b"\x01Bad handshake error byte"))
    try:
        proto.read_message(message[1:])
    except InvalidTag:
        raise Refused("a wrong encryption key", WRONG_KEY) from None
    except Exception as exc:  # the noise package raises several kinds for a malformed message
        raise Refused(
            f"a bad handshake message ({exc})", noise_frame(b"\x01Handshake error")
        ) from exc
    writer.write(noise_frame(b"\x00" + proto.write_message()))
    state = proto.noise_protocol
    return NoiseWire(
        reader, EncryptCipher(state.cipher_state_encrypt), DecryptCipher(state.cipher_state_decrypt)
    )
