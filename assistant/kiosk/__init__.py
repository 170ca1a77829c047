"""Kiosk mode: an always-on assistant on the machine's own microphone and speaker.

``Kiosk`` keeps a live voice conversation running and brings it back after anything that
stops it (a device lost, a model error, a full disk), with backoff; the HTTP server of
``assistant serve`` runs beside it for /health, /metrics and the WebSockets.
"""

from assistant.kiosk.supervisor import Kiosk, KioskHooks

__all__ = ["Kiosk", "KioskHooks"]
