"""The ESPHome native-API server, with Home Assistant's side played by aioesphomeapi's APIClient.

Every test runs a real server on loopback and talks to it with the real client (or raw sockets
for what no client sends); the device's logic is a one-switch handler defined here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import socket
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aioesphomeapi import (
    APIClient,
    EncryptionPlaintextAPIError,
    InvalidEncryptionKeyAPIError,
    RequiresEncryptionAPIError,
    SwitchInfo,
    SwitchState,
    VoiceAssistantAudioSettings,
    api_pb2,
)
from aioesphomeapi._frame_helper.noise_encryption import EncryptCipher
from aioesphomeapi._frame_helper.packets import make_plain_text_packets
from aioesphomeapi.noise import NoiseHandshake
from google.protobuf.message import Message

from assistant.errors import ConfigError
from assistant.kiosk.esphome import server as server_module
from assistant.kiosk.esphome.identity import DeviceIdentity, check_key
from assistant.kiosk.esphome.server import ApiServer, Connection
from tests.conftest import REPO
from tests.netns_zeroconf import can_isolate

KEY_B64 = base64.b64encode(bytes(range(32))).decode()
OTHER_KEY_B64 = base64.b64encode(bytes(range(1, 33))).decode()
SWITCH_KEY = 0x1234ABCD
IDENTITY = DeviceIdentity(
    name="kitchen-kiosk",
    friendly_name="Kitchen",
    mac="02:00:00:AB:CD:EF",
    version="0.1.0",
    feature_flags=61,
)


class OneSwitch:
    """The device's logic for these tests: a mute switch that clients can turn on and off."""

    def __init__(self) -> None:
        self.on = False
        self.server: ApiServer | None = None
        self.received: list[Message] = []
        self.connections: list[Connection] = []
        self.gone: list[Connection] = []

    def entities(self) -> list[Message]:
        return [api_pb2.ListEntitiesSwitchResponse(object_id="mute", key=SWITCH_KEY, name="Mute")]

    def states(self) -> list[Message]:
        return [api_pb2.SwitchStateResponse(key=SWITCH_KEY, state=self.on)]

    def on_message(self, conn: Connection, msg: Message) -> None:
        self.received.append(msg)
        self.connections.append(conn)
        if isinstance(msg, api_pb2.SwitchCommandRequest) and self.server is not None:
            self.on = msg.state
            self.server.broadcast(*self.states())

    def on_disconnect(self, conn: Connection) -> None:
        self.gone.append(conn)


@contextlib.asynccontextmanager
async def serving(key: bytes | None = None) -> AsyncIterator[tuple[ApiServer, OneSwitch]]:
    handler = OneSwitch()
    server = ApiServer(IDENTITY, handler, "127.0.0.1", 0, key)
    handler.server = server
    await server.start()
    try:
        yield server, handler
    finally:
        await server.close()
    assert server.connections == []
    assert not [t for t in asyncio.all_tasks() if "ApiServer" in t.get_coro().__qualname__]


async def until(check: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


def client_for(server: ApiServer, **kwargs: Any) -> APIClient:
    return APIClient("127.0.0.1", server.port, None, client_info="test", **kwargs)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


async def a_session_sees_the_device(server: ApiServer, handler: OneSwitch, **kwargs: Any) -> None:
    stopped: list[bool] = []

    async def on_stop(expected: bool) -> None:
        stopped.append(expected)

    client = client_for(server, keepalive=0.2, **kwargs)
    await client.connect(on_stop=on_stop, login=True)
    assert (client.api_version.major, client.api_version.minor) == (1, 14)
    info = await client.device_info()
    assert (info.name, info.mac_address, info.friendly_name) == (
        "kitchen-kiosk",
        "02:00:00:AB:CD:EF",
        "Kitchen",
    )
    assert info.voice_assistant_feature_flags == 61
    assert info.project_name == "assistant.kiosk" and info.manufacturer == "assistant"
    entities, _ = await client.list_entities_services()
    assert [(type(e), e.key, e.object_id) for e in entities] == [(SwitchInfo, SWITCH_KEY, "mute")]
    states: list[Any] = []
    client.subscribe_states(states.append)
    was = handler.on
    await until(lambda: SwitchState(key=SWITCH_KEY, state=was) in states)
    client.switch_command(SWITCH_KEY, not was)
    await until(lambda: SwitchState(key=SWITCH_KEY, state=not was) in states)
    # Pings every 0.2 s: without pongs the client gives up after 0.9 s.
    await asyncio.sleep(1.5)
    assert stopped == [] and len(server.connections) == 1
    await client.disconnect()
    await until(lambda: handler.gone and not server.connections and stopped)
    assert stopped == [True]


def assert_one_warning(caplog: pytest.LogCaptureFixture, port: int, cause: str) -> None:
    """The connection from ``port`` was closed with exactly one warning, naming ``cause``."""
    ours = [r for r in caplog.records if f":{port} " in r.getMessage()]
    warned = [r.getMessage() for r in ours if r.levelno > logging.INFO]
    assert len(warned) == 1 and cause in warned[0], ours


def test_a_plaintext_client_sees_the_device_its_switch_and_its_state() -> None:
    async def test() -> None:
        async with serving() as (server, handler):
            await a_session_sees_the_device(server, handler)

    run(test)


def test_a_client_with_the_key_sees_the_same_over_noise() -> None:
    async def test() -> None:
        async with serving(check_key(KEY_B64)) as (server, handler):
            await a_session_sees_the_device(
                server, handler, noise_psk=KEY_B64, expected_name="kitchen-kiosk"
            )
            # A second session on the same server starts its ciphers afresh.
            await a_session_sees_the_device(
                server, handler, noise_psk=KEY_B64, expected_mac="020000abcdef"
            )

    run(test)


@pytest.mark.parametrize(
    ("server_key", "client_key", "error"),
    [
        (KEY_B64, OTHER_KEY_B64, InvalidEncryptionKeyAPIError),
        (KEY_B64, None, RequiresEncryptionAPIError),
        (None, KEY_B64, EncryptionPlaintextAPIError),
    ],
)
def test_a_client_of_the_wrong_kind_is_refused_as_a_device_refuses_it(
    server_key: str | None, client_key: str | None, error: type[Exception]
) -> None:
    async def test() -> None:
        async with serving(check_key(server_key) if server_key else None) as (server, _):
            client = client_for(server, noise_psk=client_key)
            with pytest.raises(error):
                await client.connect(login=True)
            await until(lambda: not server.connections)
            good = client_for(server, noise_psk=server_key)
            await good.connect(login=True)
            await good.disconnect()

    run(test)


def test_a_key_that_is_not_32_bytes_of_base64_is_one_line_naming_the_fix() -> None:
    with pytest.raises(ConfigError, match="openssl rand -base64 32"):
        check_key("not a key")
    with pytest.raises(ConfigError, match="a-z"):
        DeviceIdentity("Kitchen Kiosk", "", "02:00:00:AB:CD:EF", "0.1.0", 0)


def test_the_identity_of_this_machine_is_stable_and_names_itself_after_its_mac() -> None:
    one, two = DeviceIdentity.for_this_machine(), DeviceIdentity.for_this_machine()
    assert one == two
    assert one.name == "assistant-" + one.mac.replace(":", "")[-6:].lower()
    assert len(one.mac) == 17 and one.mac == one.mac.upper()


def frame(type_id: int, payload: bytes = b"") -> bytes:
    return b"".join(make_plain_text_packets([(type_id, payload)]))


def noise(body: bytes) -> bytes:
    return struct.pack(">BH", 1, len(body)) + body


HELLO = frame(1, api_pb2.HelloRequest(client_info="raw").SerializeToString())


@pytest.mark.parametrize(
    ("before", "hostile", "cause"),
    [
        (HELLO, b"\x05garbage", "bad preamble byte 0x05"),
        (HELLO, b"\x00\xff\xff\xff\xff\x01\x01", "varint longer than 4 bytes"),
        (HELLO, b"\x00\x04\x09\x0a\x05ab", "does not decode as DeviceInfoRequest"),
        (HELLO, b"\x00\x00\xf4\x03", "unknown message type 500"),
        (HELLO, b"\x00\xf0\xa2\x04\x01" + bytes(1000), "declared length of 70000 bytes"),
        (b"", frame(9), "DeviceInfoRequest before HelloRequest"),
        (b"", noise(b"") + noise(bytes(49)), "a noise client"),
    ],
)
def test_hostile_input_closes_that_connection_and_the_server_serves_others(
    before: bytes, hostile: bytes, cause: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def test() -> None:
        async with serving() as (server, _):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            local_port = writer.get_extra_info("sockname")[1]
            if before:
                writer.write(before)
                await reader.readexactly(3)  # a HelloResponse's frame starts
            writer.write(hostile)
            async with asyncio.timeout(2):
                with contextlib.suppress(ConnectionError):
                    while await reader.read(4096):
                        pass
            writer.close()
            client = client_for(server)
            await client.connect(login=True)
            assert (await client.device_info()).name == "kitchen-kiosk"
            await client.disconnect()
            assert_one_warning(caplog, local_port, cause)

    caplog.set_level(logging.INFO, logger="assistant.kiosk.esphome")
    run(test)


@pytest.mark.parametrize(
    ("limit", "sent"),
    [("HANDSHAKE_S", b""), ("HANDSHAKE_S", b"\x00"), ("IDLE_S", HELLO + b"\x00\x05")],
)
def test_a_silent_or_trickling_peer_is_closed_after_its_time_limit(
    limit: str, sent: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, limit, 0.5)

    async def test() -> None:
        async with serving() as (server, _):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(sent)
            async with asyncio.timeout(3):
                await reader.read()  # to the end: the server closed it
            await until(lambda: not server.connections)
            writer.close()

    run(test)


def test_voice_assistant_messages_pass_between_the_client_and_the_handler() -> None:
    async def test() -> None:
        async with serving(check_key(KEY_B64)) as (server, handler):
            client = client_for(server, noise_psk=KEY_B64)
            await client.connect(login=True)
            starts: list[tuple[str, int, str | None]] = []
            audio: list[bytes] = []

            async def handle_start(
                conversation_id: str,
                flags: int,
                settings: VoiceAssistantAudioSettings,
                phrase: str | None,
            ) -> int:
                starts.append((conversation_id, flags, phrase))
                return 0

            async def handle_stop(abort: bool) -> None:
                pass

            async def handle_audio(data: bytes, data2: bytes | None) -> None:
                audio.append(data)

            client.subscribe_voice_assistant(
                handle_start=handle_start, handle_stop=handle_stop, handle_audio=handle_audio
            )
            await until(lambda: handler.received)
            subscribe = handler.received[0]
            assert isinstance(subscribe, api_pb2.SubscribeVoiceAssistantRequest)
            assert subscribe.subscribe and subscribe.flags != 0
            conn = handler.connections[0]
            conn.send(
                api_pb2.VoiceAssistantRequest(
                    start=True, conversation_id="c1", flags=1, wake_word_phrase="hey jarvis"
                )
            )
            await until(lambda: len(handler.received) == 2)
            response = handler.received[1]
            assert isinstance(response, api_pb2.VoiceAssistantResponse)
            assert (response.port, response.error) == (0, False)
            assert starts == [("c1", 1, "hey jarvis")]
            conn.send(api_pb2.VoiceAssistantAudio(data=bytes(1024)))
            await until(lambda: audio)
            assert audio == [bytes(1024)]
            with pytest.raises(ValueError, match="over one frame"):
                conn.send(api_pb2.VoiceAssistantAudio(data=bytes(70000)))
            await client.disconnect()

    run(test)


def test_close_says_goodbye_to_every_client_and_leaves_no_task() -> None:
    async def test() -> None:
        stopped: list[bool] = []

        async def on_stop(expected: bool) -> None:
            stopped.append(expected)

        async with serving() as (server, _):
            client = client_for(server)
            await client.connect(on_stop=on_stop, login=True)
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"\x00")  # half a frame, never finished
            await until(lambda: len(server.connections) == 2)
        # serving() checked that no connection or connection task is left.
        await until(lambda: stopped)
        assert stopped == [True]
        # Closed; a reset rather than an end when the server closed before reading that byte.
        with contextlib.suppress(ConnectionResetError):
            assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()

    run(test)


def test_the_switch_state_is_pushed_to_every_subscribed_client_only() -> None:
    async def test() -> None:
        async with serving() as (server, _):
            watcher, bystander = client_for(server), client_for(server)
            await watcher.connect(login=True)
            await bystander.connect(login=True)
            seen: list[Any] = []
            watcher.subscribe_states(seen.append)
            await until(lambda: seen)
            assert [c.subscribed_states for c in server.connections].count(True) == 1
            bystander.switch_command(SWITCH_KEY, True)
            await until(lambda: SwitchState(key=SWITCH_KEY, state=True) in seen)
            await watcher.disconnect()
            await bystander.disconnect()

    run(test)


def test_the_server_binds_an_ephemeral_port_when_asked_for_port_zero() -> None:
    async def test() -> None:
        async with serving() as (server, _):
            assert server.port > 0
            with socket.create_connection(("127.0.0.1", server.port), timeout=2):
                pass

    run(test)


@pytest.mark.skipif(not can_isolate(), reason="needs root for `unshare -n` and veth links")
def test_home_assistant_finds_the_device_by_mdns_with_its_mac_and_sees_it_leave() -> None:
    out = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "tests.netns_esphome_mdns"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["found"] == ["kitchen-kiosk._esphomelib._tcp.local.", "Added"], found
    assert found["addresses"] == ["10.99.0.1"] and found["port"] == 6053, found
    assert found["server"] == "kitchen-kiosk.local.", found
    txt = found["txt"]
    assert txt["mac"] == "020000abcdef" and txt["version"] == "0.1.0", txt
    assert txt["api_encryption"] == "Noise_NNpsk0_25519_ChaChaPoly_SHA256", txt
    assert txt["friendly_name"] == "Kitchen" and txt["project_name"] == "assistant.kiosk", txt
    assert found["after_close"] == ["kitchen-kiosk._esphomelib._tcp.local.", "Removed"], found


async def read_noise(reader: asyncio.StreamReader) -> bytes:
    header = await reader.readexactly(3)
    return await reader.readexactly(header[1] << 8 | header[2])


async def read_to_the_end(reader: asyncio.StreamReader) -> bytes:
    """Everything until the server closes (within 2 s), a reset counting as a close."""
    got = b""
    async with asyncio.timeout(2):
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(4096):
                got += chunk
    return got


def sealed(encrypt: EncryptCipher, type_id: int, payload: bytes) -> bytes:
    return noise(encrypt.encrypt(struct.pack(">HH", type_id, len(payload)) + payload))


HOSTILE_SEALED: dict[str, Callable[[EncryptCipher], bytes]] = {
    "does not decrypt": lambda _: noise(bytes(24)),
    "bad preamble byte 0x00": lambda _: frame(7),
    "shorter than its 4-byte header": lambda encrypt: noise(encrypt.encrypt(b"\x00")),
    "declaring 16 bytes": lambda encrypt: noise(encrypt.encrypt(b"\x00\x07\x00\x10")),
    "unknown message type 500": lambda encrypt: sealed(encrypt, 500, b""),
}


@pytest.mark.parametrize("cause", list(HOSTILE_SEALED))
def test_hostile_input_after_the_noise_handshake_closes_that_connection(
    cause: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def test() -> None:
        async with serving(check_key(KEY_B64)) as (server, _):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            local_port = writer.get_extra_info("sockname")[1]
            handshake = NoiseHandshake(KEY_B64, b"NoiseAPIInit\x00\x00")
            writer.write(noise(b"") + noise(b"\x00" + handshake.write_message()))
            assert (await read_noise(reader)) == b"\x01kitchen-kiosk\x00020000abcdef\x00"
            handshake.read_message((await read_noise(reader))[1:])
            encrypt, decrypt = handshake.get_ciphers()
            writer.write(sealed(encrypt, 1, api_pb2.HelloRequest().SerializeToString()))
            reply = decrypt.decrypt(await read_noise(reader))
            assert struct.unpack_from(">H", reply)[0] == 2  # HelloResponse
            writer.write(HOSTILE_SEALED[cause](encrypt))
            await read_to_the_end(reader)
            writer.close()
            assert_one_warning(caplog, local_port, cause)

    caplog.set_level(logging.INFO, logger="assistant.kiosk.esphome")
    run(test)


@pytest.mark.parametrize(
    ("handshake", "refusal"),
    [
        (b"", b"Empty handshake message"),
        (b"\x01" + bytes(48), b"Bad handshake error byte"),
        (b"\x00" + bytes(5), b"Handshake error"),
    ],
)
def test_a_broken_handshake_gets_the_device_refusal_frame(handshake: bytes, refusal: bytes) -> None:
    async def test() -> None:
        async with serving(check_key(KEY_B64)) as (server, _):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(noise(b"") + noise(handshake))
            got = await read_to_the_end(reader)
            assert got.endswith(noise(b"\x01" + refusal)), got
            writer.close()

    run(test)


def test_connections_over_the_limit_are_closed_at_once_and_the_others_stay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server_module, "MAX_CONNECTIONS", 3)

    async def test() -> None:
        async with serving() as (server, _):
            held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(3)]
            await until(lambda: len(server.connections) == 3)
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            await read_to_the_end(reader)
            writer.close()
            assert len(server.connections) == 3
            for _, held_writer in held:
                held_writer.close()
            await until(lambda: not server.connections)
            client = client_for(server)
            await client.connect(login=True)
            await client.disconnect()

    run(test)
