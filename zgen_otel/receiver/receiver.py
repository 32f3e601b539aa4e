"""The OTLP receiver of ``zgen-otel serve``: telemetry from other processes into the runtime's store and views.

`Receiver` takes decoded ``Export*ServiceRequest`` messages (the HTTP and gRPC endpoints decode them
with ``opentelemetry-proto``) and puts their metrics into the runtime's store (where the alert rules and
dashboards read them, each series tagged with its sender's ``service.name`` and ``service.instance.id``), their
spans and log records into per-service rings. It keeps a table of the processes that sent anything (service,
instance, host, pid, last seen) for the views' service selector, and it bounds everything: series per service
(the store's budget), spans and records per service, services, and requests being ingested at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from zgen_otel._series import AttributeValue
from zgen_otel.exceptions import ZgenOtelError
from zgen_otel.receiver.histograms import Histograms
from zgen_otel.receiver.metrics import MetricIngest, point_count
from zgen_otel.receiver.signals import SignalRings
from zgen_otel.receiver.values import Origin, attributes, origin
from zgen_otel.semconv import METRICS_SCOPE
from zgen_otel.store import MetricStore

__all__ = ["STALE_AFTER", "Busy", "Receiver", "Sender"]

#: Seconds without data after which a sender is shown as stale (its history stays for the retention period).
STALE_AFTER = 60.0


class Busy(ZgenOtelError):
    """The receiver cannot take this request now; the sender should retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Sender:
    """One process that sent telemetry: who it is, when it was seen, and how much it sent."""

    service: str
    instance: str
    host: str
    pid: int | None
    first_seen: float
    last_seen: float
    points: int = 0
    spans: int = 0
    logs: int = 0
    rejected: int = 0
    resource: dict[str, AttributeValue] = field(default_factory=dict)

    @property
    def origin(self) -> Origin:
        """Who the sender is, as the ingest code takes it."""
        return Origin(self.service, self.instance, self.host, self.pid)

    def to_dict(self, now: float) -> dict[str, Any]:
        """A JSON-ready dict with ``age`` (seconds since last seen) and ``stale``."""
        age = max(0.0, now - self.last_seen)
        return {"service": self.service, "instance": self.instance, "host": self.host, "pid": self.pid,
                "first_seen": self.first_seen, "last_seen": self.last_seen, "age": age, "stale": age > STALE_AFTER,
                "points": self.points, "spans": self.spans, "logs": self.logs, "rejected": self.rejected}  # fmt: skip


class Receiver:
    """Telemetry received from other processes, stored where the runtime keeps its own.

    Args:
        store: the runtime's store.
        clock: the runtime's clock.
        max_spans: spans kept per service.
        max_logs: log records kept per service.
        max_services: services accepted; a new one past it is rejected (counted in the response and stats).
        max_pending: requests ingested at once; one more gets `Busy` (HTTP 503, gRPC UNAVAILABLE).
        own_instance: this process's ``service.instance.id``: its own telemetry, sent back here by a
            misdirected exporter, is not counted a second time.
    """

    def __init__(
        self,
        store: MetricStore,
        clock: Callable[[], float],
        *,
        max_spans: int = 5000,
        max_logs: int = 5000,
        max_services: int = 50,
        max_pending: int = 8,
        own_instance: str | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_services = max_services
        self.own_instance = own_instance
        #: Where agents send to, as ``zgen-otel serve`` opened them (e.g. ``["http://127.0.0.1:4318"]``): the
        #: pages show the first in the line that tells a new user how to point an agent here.
        self.endpoints: list[str] = []
        self.histograms = Histograms(store.max_series)
        self.rings = SignalRings(max_spans, max_logs)
        self._metrics = MetricIngest(store, self.histograms, clock, max_state=store.max_series * 4)
        self._lock = threading.Lock()
        self._senders: dict[tuple[str, str], Sender] = {}
        self._slots = threading.BoundedSemaphore(max_pending)
        self.busy = 0  # requests refused with Busy
        self.rejected_services = 0  # resources refused: past max_services
        self.own = 0  # resources of this very process, ignored

    # -- admission ------------------------------------------------------------------------------------
    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold one of ``max_pending`` ingest slots while a request is stored; `Busy` when none is free."""
        if not self._slots.acquire(blocking=False):
            self.busy += 1
            raise Busy("the receiver is busy storing other requests; retry later")
        try:
            yield
        finally:
            self._slots.release()

    def _sender(self, resource: Any) -> tuple[Sender, dict[str, AttributeValue]] | None:
        """The sender of one resource (registered when new); None when it is refused (too many services, or us)."""
        attrs = attributes(resource.attributes)
        who: Origin = origin(attrs)
        if self.own_instance is not None and who.instance == self.own_instance:
            self.own += 1
            return None
        now = self.clock()
        with self._lock:
            sender = self._senders.get((who.service, who.instance))
            if sender is None:
                known = {s for s, _ in self._senders}
                if who.service not in known and len(known) >= self.max_services:
                    self.rejected_services += 1
                    return None
                sender = Sender(who.service, who.instance, who.host, who.pid, now, now, resource=attrs)
                self._senders[(who.service, who.instance)] = sender
            sender.last_seen = now
        return sender, attrs

    # -- the three signals ----------------------------------------------------------------------------
    def export_metrics(self, request: Any) -> tuple[int, str]:
        """Store an ``ExportMetricsServiceRequest``; return (data points rejected, message for partial success)."""
        rejected = 0
        for resource_metrics in request.resource_metrics:
            found = self._sender(resource_metrics.resource)
            if found is None:
                rejected += sum(point_count(m) for s in resource_metrics.scope_metrics for m in s.metrics)
                continue
            sender, _ = found
            source = f"received:{sender.service}"
            stored, bad = self._metrics.ingest(resource_metrics.scope_metrics, sender.origin, source, METRICS_SCOPE)
            sender.points += stored
            sender.rejected += bad
            rejected += bad
        message = "some data points were rejected: not finite, past the series limit, or too many services"
        return rejected, message if rejected else ""

    def export_traces(self, request: Any) -> tuple[int, str]:
        """Keep an ``ExportTraceServiceRequest`` 's spans; return (spans rejected, message)."""
        rejected = 0
        mixed = len(request.resource_spans) > 1  # copy kept spans out of the request: see SignalRings
        for resource_spans in request.resource_spans:
            found = self._sender(resource_spans.resource)
            if found is None:
                rejected += sum(len(s.spans) for s in resource_spans.scope_spans)
                continue
            sender, attrs = found
            kept, bad = self.rings.add_spans(resource_spans.scope_spans, sender.origin, attrs, copy=mixed)
            sender.spans += kept
            sender.rejected += bad
            rejected += bad
        return rejected, "some spans were rejected: invalid trace or span id, or too many services" if rejected else ""

    def export_logs(self, request: Any) -> tuple[int, str]:
        """Keep an ``ExportLogsServiceRequest`` 's records; return (records rejected, message)."""
        rejected = 0
        mixed = len(request.resource_logs) > 1
        for resource_logs in request.resource_logs:
            found = self._sender(resource_logs.resource)
            if found is None:
                rejected += sum(len(s.log_records) for s in resource_logs.scope_logs)
                continue
            sender, attrs = found
            sender.logs += self.rings.add_logs(resource_logs.scope_logs, sender.origin, attrs, copy=mixed)
        return rejected, "some log records were rejected: too many services" if rejected else ""

    # -- reading --------------------------------------------------------------------------------------
    def senders(self) -> list[Sender]:
        """Every process that sent telemetry, by service then instance."""
        with self._lock:
            return sorted(self._senders.values(), key=lambda s: (s.service, s.instance))

    def recorded_names(self) -> set[str]:
        """Names of the metrics other processes recorded with ``record_metric``."""
        return set(self._metrics.recorded)

    def forget(self, before: float) -> None:
        """Drop histogram series with nothing since ``before`` (the store prunes its own series)."""
        self.histograms.forget(before)

    def stats(self) -> dict[str, Any]:
        """Senders, services refused, requests refused as busy, this process's own data ignored, per-service rings."""
        now = self.clock()
        return {
            "senders": [s.to_dict(now) for s in self.senders()],
            "services_refused": self.rejected_services,
            "busy": self.busy,
            "own_ignored": self.own,
            "histograms": len(self.histograms),
            "histograms_dropped": self.histograms.dropped,
            "rings": self.rings.stats(),
        }
