"""The server's Prometheus metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from assistant.models.remote_role import BackendStatus, Remote


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
    backend_up: Gauge  # each role's backend answered its last probe (1) or not (0)
    backend_probe: Gauge  # the probe's round trip, seconds

    def record_backends(self, statuses: Iterable[BackendStatus]) -> None:
        """Set the backend gauges from a round of probes."""
        for s in statuses:
            self.backend_up.labels(s.role, s.backend, s.url).set(1 if s.ready else 0)
            if s.latency_ms is not None:
                self.backend_probe.labels(s.role, s.backend, s.url).set(s.latency_ms / 1000)

    def count_remote_calls(self, remotes: Callable[[], Mapping[str, Remote]]) -> None:
        """Report the requests the remote models have sent (``remotes`` is asked at each scrape)."""
        self.registry.register(_RemoteCalls(remotes))

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
            Gauge(
                "assistant_backend_up",
                "Whether each role's model backend answered its last probe",
                ["role", "backend", "url"],
                registry=r,
            ),
            Gauge(
                "assistant_backend_probe_seconds",
                "Round trip of each remote backend's last probe",
                ["role", "backend", "url"],
                registry=r,
            ),
        )


class _RemoteCalls(Collector):
    """``assistant_remote_calls_total``: requests sent to remote model servers, by role."""

    def __init__(self, remotes: Callable[[], Mapping[str, Remote]]) -> None:
        self._remotes = remotes

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "assistant_remote_calls",
            "Requests sent to remote model servers, retries included",
            labels=["role", "backend"],
        )
        for role, remote in self._remotes().items():
            family.add_metric([role, remote.backend], remote.calls)
        yield family
