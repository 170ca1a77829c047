"""Who may talk to the server: the Host allow-list, the Origin rules and the API key's form.

A server on loopback is still reachable from every web page the user opens, in two ways:
- a cross-site request: a page on another site posts to ``http://127.0.0.1:PORT`` (a form or a
  ``fetch`` without CORS still reaches the server); its ``Origin`` header names that site;
- DNS rebinding: a site's own name is made to resolve to 127.0.0.1, so the page talks to the
  server "same-origin"; its ``Host`` header then names that site.

So every request (HTTP and WebSocket) must name this server in ``Host``: a loopback name, an IP
address (a rebinding attack always uses a name), ``server.host``, or one of
``server.allowed_hosts`` ("*" allows any). And a request that changes state (POST, PUT, PATCH,
DELETE) or opens a WebSocket from a browser page must come from an allowed ``Origin``: this
server itself, a page on localhost, or one of ``server.allowed_origins`` / ``cors_origins``.
Clients that send no ``Origin`` (scripts, SDKs) are not browsers and pass.
"""

from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.config import ServerSettings
from assistant.server.wire_errors import error_body

_CHANGES_STATE = {"POST", "PUT", "PATCH", "DELETE"}
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def bearer_token(header: str) -> str:
    """The key of an ``Authorization: Bearer KEY`` header; "" for any other form."""
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _hostname(netloc: str) -> str:
    """The name or address of ``host[:port]`` (brackets of an IPv6 address removed)."""
    try:
        return (urlsplit(f"//{netloc}").hostname or "").rstrip(".").lower()
    except ValueError:  # a malformed port or address
        return ""


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_allowed(host: str, settings: ServerSettings) -> bool:
    """Whether a request's ``Host`` header names this server."""
    allowed = {h.lower() for h in settings.allowed_hosts}
    if not host or "*" in allowed:
        return True  # no Host at all is no browser (HTTP/1.0 tools)
    name = _hostname(host)
    if not name:
        return False
    return (
        name in _LOOPBACK_NAMES
        or name.endswith(".localhost")
        or _is_address(name)
        or name == settings.host.lower()
        or name in allowed
    )


def origin_allowed(origin: str, host: str, settings: ServerSettings) -> bool:
    """Whether a browser page of ``origin`` may use this server (reached as ``host``).

    ``host`` has passed ``host_allowed`` already, so a page of the same origin is this server.
    """
    listed = [*settings.allowed_origins, *settings.cors_origins]
    if "*" in listed or origin in listed:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return False  # "null" (a sandboxed or file page) and other schemes
    name = (parsed.hostname or "").lower()
    return parsed.netloc.lower() == host.lower() or name in (*_LOOPBACK_NAMES, "127.0.0.1", "::1")


class Guard:
    """ASGI middleware: a foreign Host is a 400, a state change from a foreign Origin a 403.

    Both answer in the error shape; a WebSocket with a foreign Host is refused at the handshake.
    """

    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request's Host and Origin before anything else sees it."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if not host_allowed(host, self.settings):
            message = (
                "this server does not answer to that Host name (DNS rebinding guard); "
                "add it to server.allowed_hosts"
            )
            await _refuse(scope, send, 400, "invalid_host", message)
            return
        origin = headers.get("origin")
        if (
            scope["type"] == "http"
            and scope["method"] in _CHANGES_STATE
            and origin is not None
            and not origin_allowed(origin, host, self.settings)
        ):
            message = (
                "requests from pages of other sites are refused; add the page's origin to "
                "server.allowed_origins"
            )
            await _refuse(scope, send, 403, "forbidden_origin", message)
            return
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
        return
    status, answer = error_body(scope["path"], status, code, message)
    body = json.dumps(answer).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
