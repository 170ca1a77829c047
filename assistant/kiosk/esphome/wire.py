"""The ESPHome native API's two framings, read from an asyncio stream with every length bounded.

Plaintext: ``00 | varint(payload length) | varint(message type) | payload``. Noise: ``01 |
u16be(length) | ciphertext``, whose plaintext is ``u16be(type) | u16be(payload length) |
payload``. Lengths are checked before any body is read, so a declared length over the limit
costs nothing; varints are at most 4 bytes, as the client allows.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Protocol

from aioesphomeapi._frame_helper.noise_encryption import DecryptCipher, EncryptCipher
from aioesphomeapi._frame_helper.packets import make_plain_text_packets
from cryptography.exceptions import InvalidTag

# The largest plaintext payload: the client refuses frames over 65535 bytes, so nothing a peer
# may legitimately send or receive is larger.
MAX_PLAIN_PAYLOAD = 65535
# A noise frame holds at most 65535 bytes: 16 of them are the tag and 4 the inner header.
MAX_NOISE_PAYLOAD = 65535 - 16 - 4
MAX_VARINT_BYTES = 4

Frame = tuple[int, bytes]  # (message type id, protobuf payload)


class WireError(Exception):
    """The peer broke the protocol; the message names how, and the connection is closed."""


class Wire(Protocol):
    """One side of a connection's framing, after any handshake."""

    max_payload: int  # bytes of one protobuf payload

    async def read(self) -> Frame:
        """The next frame; WireError if it is malformed, IncompleteReadError at the end."""
        ...

    def encode(self, frames: list[Frame]) -> bytes:
        """The bytes that carry ``frames``, in order."""
        ...


async def read_varint(reader: asyncio.StreamReader) -> int:
    """An unsigned varint of at most 4 bytes (28 bits)."""
    value = 0
    for index in range(MAX_VARINT_BYTES):
        byte = (await reader.readexactly(1))[0]
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value
    raise WireError(f"a varint longer than {MAX_VARINT_BYTES} bytes")


class PlainWire:
    """Plaintext framing; the first frame's preamble byte has already been read."""

    max_payload = MAX_PLAIN_PAYLOAD

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._preamble_read = True

    async def read(self) -> Frame:
        """The next frame."""
        if self._preamble_read:
            self._preamble_read = False
        else:
            preamble = (await self._reader.readexactly(1))[0]
            if preamble != 0x00:
                raise WireError(f"a bad preamble byte 0x{preamble:02x}")
        length = await read_varint(self._reader)
        if length > MAX_PLAIN_PAYLOAD:
            raise WireError(f"a declared length of {length} bytes (limit {MAX_PLAIN_PAYLOAD})")
        type_id = await read_varint(self._reader)
        return type_id, await self._reader.readexactly(length) if length else b""

    def encode(self, frames: list[Frame]) -> bytes:
        """Plaintext frames."""
        return b"".join(make_plain_text_packets(frames))


def noise_frame(body: bytes) -> bytes:
    """One outer noise frame around ``body`` (at most 65535 bytes)."""
    return struct.pack(">BH", 0x01, len(body)) + body


async def read_noise_frame(reader: asyncio.StreamReader, preamble_read: bool = False) -> bytes:
    """The body of one outer noise frame (a u16 length bounds it at 65535 bytes)."""
    header = await reader.readexactly(2 if preamble_read else 3)
    if not preamble_read and header[0] != 0x01:
        raise WireError(f"a bad preamble byte 0x{header[0]:02x}")
    return await reader.readexactly(header[-2] << 8 | header[-1])


class NoiseWire:
    """Noise framing once the handshake is done: each direction has its own cipher and nonce."""

    max_payload = MAX_NOISE_PAYLOAD

    def __init__(
        self, reader: asyncio.StreamReader, encrypt: EncryptCipher, decrypt: DecryptCipher
    ) -> None:
        self._reader = reader
        self._encrypt = encrypt
        self._decrypt = decrypt

    async def read(self) -> Frame:
        """The next frame, decrypted."""
        body = await read_noise_frame(self._reader)
        try:
            data = self._decrypt.decrypt(body)
        except InvalidTag:
            raise WireError("an encrypted frame that does not decrypt") from None
        if len(data) < 4:
            raise WireError("an encrypted frame shorter than its 4-byte header")
        type_id, length = struct.unpack_from(">HH", data)
        # As firmware does: the inner length may not exceed what was decrypted.
        if length > len(data) - 4:
            raise WireError(f"an encrypted frame declaring {length} bytes but holding fewer")
        return type_id, data[4 : 4 + length]

    def encode(self, frames: list[Frame]) -> bytes:
        """Encrypted frames; encoding advances the send nonce, so bytes must be sent in order."""
        out = []
        for type_id, payload in frames:
            inner = struct.pack(">HH", type_id, len(payload)) + payload
            out.append(noise_frame(self._encrypt.encrypt(inner)))
        return b"".join(out)
