"""The server's Prometheus metrics."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    """Prometheus metrics of one server."""

    registry: CollectorRegistry
    requests: Counter
    tokens: Counter
    latency: Histogram
    in_flight: Gauge
    admitted: Gauge  # running or waiting
    rejected: Counter
    voice_sessions: Gauge
    voice_turns: Counter
    voice_to_voice: Histogram
    kiosk_restarts: Counter
    kiosk_wakes: Counter
    stage_failures: Counter  # turns of voice sessions that failed, by stage (stt, llm, tts)

    @classmethod
    def create(cls) -> Metrics:
        """Fresh metrics in their own registry."""
        r = CollectorRegistry()
        return cls(
            r,
            Counter(
                "assistant_requests",
                "Requests by endpoint and status",
                ["endpoint", "status"],
                registry=r,
            ),
            Counter("assistant_generated_tokens", "Tokens generated", registry=r),
            Histogram("assistant_request_seconds", "Request latency", ["endpoint"], registry=r),
            Gauge("assistant_generations_in_flight", "Generations running", registry=r),
            Gauge("assistant_generations_admitted", "Generations running or waiting", registry=r),
            Counter(
                "assistant_rejected", "Requests refused because the queue was full", registry=r
            ),
            Gauge("assistant_voice_sessions", "Voice WebSocket sessions open", registry=r),
            Counter("assistant_voice_turns", "Voice turns completed", registry=r),
            Histogram(
                "assistant_voice_to_voice_seconds",
                "End of the user's speech to the first reply audio",
                registry=r,
            ),
            Counter(
                "assistant_kiosk_restarts",
                "Kiosk conversations restarted after a failure",
                registry=r,
            ),
            Counter("assistant_kiosk_wakes", "Wake words heard by the kiosk", registry=r),
            Counter(
                "assistant_voice_turn_failures",
                "Voice turns that failed (a remote model server down, say), by stage",
                ["stage"],
                registry=r,
            ),
        )
