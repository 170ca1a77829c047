"""One Wyoming server as a remote model: its address, one bounded connection per call, its info.

The classes of the ``wyoming`` package make and read the events; what this module adds is
what a client needs against a server it does not trust to behave:

- ``url`` is ``tcp://host:port``; anything else is a ConfigError naming the form.
- Each call opens its own connection, as Home Assistant's clients do: the servers keep state
  per connection (an utterance's audio, whether text is streamed), a connection that broke
  mid-answer never leaks into the next call, and connecting costs one round trip.
- That connection is driven on an event loop of its own, made in the calling thread for the
  call and closed with it. The model interfaces are synchronous and run on worker threads
  (never on the caller's loop), and a synthesis is a generator advanced between the caller's
  other work: each step runs the loop only until its event arrives.
- ``connect_timeout_s`` bounds the connect, ``timeout_s`` each next event. An event's line,
  data and payload have sizes bounded here (the package's own reader buffers whatever length
  a header claims); a call reads a bounded number of events.
- Every failure (refused, too slow, not an event, closed mid-answer, an ``error`` event) is one
  RemoteFailed naming the server, ``before_answer`` until the caller marks the answer begun;
  a server that took the connection and then stalled is not asked again (the turn would wait
  ``timeout_s`` once more).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit

from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info

from assistant.config_remote import RemoteRole
from assistant.errors import ConfigError, ModelError
from assistant.models.remote_role import BackendStatus, RemoteFailed

T = TypeVar("T")
_LINE_LIMIT = 1 << 20  # bytes of one event's JSON line
_DATA_LIMIT = 4 << 20  # bytes of one event's extra data (an info lists every voice it has)
_PAYLOAD_LIMIT = 4 << 20  # bytes of one event's payload (an audio chunk: about 90 s of speech)
_INFO_EVENTS = 16  # events read while waiting for the answer to ``describe``


def tcp_address(url: str, role: str) -> tuple[str, int]:
    """Host and port of a ``tcp://host:port`` URL (ConfigError for anything else)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "tcp" or not parts.hostname or port is None or parts.path.strip("/"):
        raise ConfigError(
            f'{role}.url "{url}" is not a Wyoming address; it takes tcp://host:port '
            '(e.g. "tcp://127.0.0.1:10300")'
        )
    return parts.hostname, port


class _NotAnEvent(Exception):
    """The server sent bytes that are not a Wyoming event."""


class _BoundedClient(AsyncTcpClient):
    """The package's TCP client, reading events of bounded size only."""

    async def connect(self) -> None:
        """Connect with a line limit large enough for any honest event header."""
        self._reader, self._writer = await asyncio.open_connection(
            self.host, self.port, limit=_LINE_LIMIT
        )

    async def read_event(self) -> Event | None:
        """The next event; None when the server closed the connection (also mid-event)."""
        reader = self._reader
        assert reader is not None, "read before connect"
        try:
            line = await reader.readline()
        except ValueError:  # asyncio's line limit
            raise _NotAnEvent(f"a line longer than {_LINE_LIMIT} bytes") from None
        if not line.endswith(b"\n"):
            return None
        try:
            head = json.loads(line)
            if not isinstance(head, dict) or not isinstance(head.get("type"), str):
                raise ValueError("no event type")
            data = dict(head.get("data") or {})
            size = _length(head, "data_length", _DATA_LIMIT)
            if size:
                data.update(json.loads(await reader.readexactly(size)))
            size = _length(head, "payload_length", _PAYLOAD_LIMIT)
            payload = await reader.readexactly(size) if size else None
        except asyncio.IncompleteReadError:
            return None
        except (ValueError, TypeError, RecursionError) as exc:  # RecursionError: nested JSON
            raise _NotAnEvent(str(exc)[:200]) from None
        return Event(type=head["type"], data=data, payload=payload)


def _length(head: dict[str, Any], key: str, limit: int) -> int:
    size = head.get(key) or 0
    if not isinstance(size, int) or not 0 <= size <= limit:
        raise ValueError(f"{key} {size!r} is not a size up to {limit} bytes")
    return size


class WyomingCall:
    """One request's connection, driven step by step on an event loop of its own.

    ``answered``: the caller sets it once part of the answer has arrived; a failure after that
    is not retried.
    """

    def __init__(self, remote: WyomingRemote, timeout_s: float, connect_timeout_s: float) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise ModelError("a Wyoming model is called from a worker thread, not an event loop")
        self._remote, self._timeout_s = remote, timeout_s
        self._loop = asyncio.new_event_loop()
        self._client = _BoundedClient(remote.host, remote.port)
        self.answered = False
        try:
            self._run(self._client.connect(), connect_timeout_s)
        except BaseException as exc:
            self.close()
            if isinstance(exc, TimeoutError):
                why = f"did not accept a connection within {connect_timeout_s:g} s"
                raise self.failed(why) from None
            if isinstance(exc, OSError):
                raise self.failed(f"could not be reached ({exc.strerror or exc})") from None
            raise

    def _run(self, step: Coroutine[Any, Any, T], timeout_s: float) -> T:
        return self._loop.run_until_complete(asyncio.wait_for(step, timeout_s))

    def failed(self, why: str) -> RemoteFailed:
        """The call's failure, before the answer until ``answered``."""
        return self._remote.failed(why, before_answer=not self.answered)

    def send(self, *events: Event) -> None:
        """Write ``events`` in order (the server must take them within ``timeout_s``)."""
        try:
            self._run(self._write(events), self._timeout_s)
        except TimeoutError:  # stuck: asking again would wait as long once more
            why = f"did not take the request within {self._timeout_s:g} s (timeout_s)"
            raise self._remote.failed(why, before_answer=False) from None
        except OSError as exc:
            raise self.failed(f"closed the connection ({exc.strerror or exc})") from None

    async def _write(self, events: tuple[Event, ...]) -> None:
        for event in events:
            await self._client.write_event(event)

    def receive(self) -> Event:
        """The next event; RemoteFailed for silence, garbage, a closed connection or an error."""
        try:
            event = self._run(self._client.read_event(), self._timeout_s)
        except TimeoutError:  # stuck: asking again would wait as long once more
            why = f"sent nothing for {self._timeout_s:g} s (timeout_s)"
            raise self._remote.failed(why, before_answer=False) from None
        except _NotAnEvent as exc:
            raise self.failed(f"sent something that is not a Wyoming event ({exc})") from None
        except OSError as exc:
            raise self.failed(f"broke off the connection ({exc.strerror or exc})") from None
        if event is None:
            raise self.failed("closed the connection before the end of its answer")
        if Error.is_type(event.type):
            self.answered = True  # the server's own answer: asking again gets the same
            raise self.failed(f"answered with an error: {str(event.data.get('text'))[:300]}")
        return event

    def describe(self) -> Info:
        """Ask the server what it serves (its ``info``)."""
        self.send(Describe().event())
        for _ in range(_INFO_EVENTS):
            event = self.receive()
            if Info.is_type(event.type):
                try:
                    return Info.from_event(event)
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    raise self.failed(f"sent an info that does not parse ({exc!r})") from None
        raise self.failed(f"sent {_INFO_EVENTS} events but no info for describe")

    def close(self) -> None:
        """Close the connection and the loop (from any thread that runs no loop of its own)."""
        if self._loop.is_closed():
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._close_here()
        else:  # a generator closed on a loop's thread: the loop is run where none runs
            helper = threading.Thread(target=self._close_here, name="wyoming-close")
            helper.start()
            helper.join()

    def _close_here(self) -> None:
        writer = self._client._writer
        try:
            self._run(self._client.disconnect(), 1.0)
        except (OSError, TimeoutError):
            # Closed already, or a server that stopped reading holds back the flush a close
            # waits for: the socket is dropped now, not left to the garbage collector.
            if writer is not None:
                writer.transport.abort()
                self._loop.run_until_complete(asyncio.sleep(0))
        finally:
            self._loop.close()


class WyomingRemote:
    """What both Wyoming speech roles share: address, timeouts, request count, status."""

    backend = "wyoming"

    def __init__(self, role: str, settings: RemoteRole) -> None:
        self.role = role
        self.url = settings.remote_url(role)
        self.host, self.port = tcp_address(self.url, role)
        self.timeout_s, self.connect_timeout_s = settings.timeout_s, settings.connect_timeout_s
        self.retries = settings.retries
        self.calls = 0  # requests sent, retries included: what recognition during pauses costs
        self._lock = threading.Lock()
        self._closed = False

    def failed(self, why: str, before_answer: bool = True) -> RemoteFailed:
        """The one error of a failed call, naming this server."""
        return RemoteFailed(self.role, self.url, why, before_answer)

    def connect(self) -> WyomingCall:
        """A new connection for one call (ModelError once closed)."""
        if self._closed:
            raise ModelError(f"the Wyoming {self.role} model of {self.url} is closed")
        return WyomingCall(self, self.timeout_s, self.connect_timeout_s)

    def count(self) -> None:
        """Count one request sent."""
        with self._lock:
            self.calls += 1

    def served(self, info: Info) -> str:
        """The name of what the server serves for this role, from its info."""
        raise NotImplementedError

    def status(self, timeout_s: float = 2.0) -> BackendStatus:
        """Ready when the server answers ``describe`` within ``timeout_s``; that round trip."""
        started, model = time.perf_counter(), ""
        try:
            call = WyomingCall(self, timeout_s, timeout_s)
            try:
                started = time.perf_counter()
                info = call.describe()
                ms = round((time.perf_counter() - started) * 1000, 1)
                model = self.served(info)
            finally:
                call.close()
            ok, error = True, ""
        except (RemoteFailed, ModelError) as exc:
            ms = round((time.perf_counter() - started) * 1000, 1)
            ok, error = False, getattr(exc, "why", str(exc))
        return BackendStatus(self.role, self.backend, self.url, ok, ms, model, error)

    def close(self) -> None:
        """Refuse further calls (each call's connection is its own, closed when it ends)."""
        self._closed = True
