"""This process's telemetry and the telemetry received from others, read as one, for a chosen set of processes.

A runtime holds its own telemetry (series without service attributes, spans and log records in its rings)
and, under ``zgen-otel serve``, what other processes sent over OTLP (series tagged with ``service.name`` and
``service.instance.id``, span and log rows kept per service). Every view reads both through this module, so
nothing downstream cares where a number was recorded:

* `Selection`: a service, one instance (process) of it, or everything (``None``);
* `select` gives a `View` of a runtime through a selection: the processes it covers, the store
  seen through it (`SelectedStore`, read-only), span and log rows, received histograms, and
  `View.who`, the text that tells the series of several processes apart in a chart;
* `span_rows` and `log_rows`: the rows of the selected processes, each with its service and instance.

A custom dashboard can take the same options as the built-in ones::

    class Mine(Dashboard):
        def get_data(self, window_seconds=3600, *, service=None, instance=None, runtime=None):
            view = select(runtime, service, instance)
            return {"panels": [...view.store.series("my.metric")...]}
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from zgen_otel import _current
from zgen_otel._records import LogRow, SpanRow, log_row, span_row
from zgen_otel._validate import check_text
from zgen_otel.store import (
    AttributeValue,
    MetricPoint,
    MetricStore,
    Series,
    SeriesInfo,
    merged_points,
    series_info,
)

if TYPE_CHECKING:
    from zgen_otel._runtime import Runtime
    from zgen_otel.receiver import HistogramSeries

__all__ = [
    "INSTANCE",
    "MAX_NAME",
    "SERVICE",
    "Process",
    "SelectedStore",
    "Selection",
    "View",
    "describe",
    "local_process",
    "log_rows",
    "processes",
    "received",
    "select",
    "span_rows",
    "waiting_line",
]

#: The attributes that say which service, and which process of it, a received series came from.
SERVICE, INSTANCE = "service.name", "service.instance.id"
#: How long a selection's service or instance may be (the HTTP parameters' limit too).
MAX_NAME = 255


@dataclass(frozen=True)
class Selection:
    """Which processes a view shows: one service (``service``), one process (``instance``), or all (None).

    An empty string counts as None (a form's "All"). ``instance`` alone picks that process whatever its service.

    Raises:
        TypeError: ``service`` or ``instance`` is not a str or None. ValueError: longer than 255 characters.
    """

    service: str | None = None
    instance: str | None = None

    def __post_init__(self) -> None:
        for what in ("service", "instance"):
            value = check_text(what, getattr(self, what))
            if value is not None and len(value) > MAX_NAME:
                raise ValueError(f"{what} must be at most {MAX_NAME} characters; got {len(value)}")
            object.__setattr__(self, what, value or None)

    @property
    def everything(self) -> bool:
        """Whether the selection is "all processes"."""
        return self.service is None and self.instance is None

    def matches(self, service: str, instance: str) -> bool:
        """Whether the process ``instance`` of ``service`` is selected."""
        return (self.service is None or service == self.service) and (
            self.instance is None or instance == self.instance
        )

    def to_dict(self) -> dict[str, str | None]:
        """``{"service": ..., "instance": ...}`` (None for "all")."""
        return {"service": self.service, "instance": self.instance}


@dataclass(frozen=True)
class Process:
    """One process whose telemetry a runtime holds: its service, its instance id, whether it is this process."""

    service: str
    instance: str
    local: bool


def received(attributes: Mapping[str, AttributeValue]) -> bool:
    """Whether a series with these attributes was received from another process (it names its service and instance)."""
    return SERVICE in attributes and INSTANCE in attributes


def local_process(runtime: Runtime) -> Process:
    """This process as its resource names it (``service.name``, ``service.instance.id``; the settings' name else)."""
    resource = runtime.providers.tracer_provider.resource.attributes if runtime.providers is not None else {}
    service = resource.get(SERVICE) or runtime.settings.service_name
    return Process(str(service), str(resource.get(INSTANCE) or ""), True)


def processes(runtime: Runtime) -> list[Process]:
    """This process, then every process that sent telemetry to the runtime's receiver (by service, instance)."""
    found = [local_process(runtime)]
    if runtime.receiver is not None:
        found += [Process(s.service, s.instance, False) for s in runtime.receiver.senders()]
    return found


def describe(runtime: Runtime | None = None) -> list[dict[str, Any]]:
    """This process, then every process that sent telemetry, as JSON-ready dicts (the ``/services`` answer).

    Each: ``service``, ``instance``, ``host``, ``pid``, ``local`` (this process), ``first_seen``, ``last_seen``,
    ``age`` (seconds since last seen), ``stale`` (nothing for 60 s), and what it sent: ``points``, ``spans``,
    ``logs`` and ``rejected`` (for this process: the spans and records its rings hold, no points count).
    """
    rt = _runtime(runtime)
    now = rt.clock()
    local = local_process(rt)
    resource = rt.providers.tracer_provider.resource.attributes if rt.providers is not None else {}
    host = str(resource.get("host.name") or socket.gethostname())
    me = {"service": local.service, "instance": local.instance, "host": host,
          "pid": os.getpid(), "local": True, "first_seen": rt.started_at, "last_seen": now, "age": 0.0,
          "stale": False, "points": None, "spans": len(rt.span_buffer.ring.items) if rt.span_buffer else 0,
          "logs": len(rt.log_buffer.ring.items) if rt.log_buffer else 0, "rejected": 0}  # fmt: skip
    senders = rt.receiver.senders() if rt.receiver is not None else []
    return [me, *({**s.to_dict(now), "local": False} for s in senders)]


def waiting_line(runtime: Runtime | None = None) -> str | None:
    """The line telling how to point an agent at this server, while its receiver has heard from none (else None)."""
    receiver = _runtime(runtime).receiver
    if receiver is None or receiver.senders():
        return None
    where = f"OTEL_EXPORTER_OTLP_ENDPOINT={receiver.endpoints[0]}" if receiver.endpoints else "its OTLP endpoint"
    return f"No agent sends telemetry here yet: start one with {where} to see it on these pages."


_Row = TypeVar("_Row", SpanRow, LogRow)


def _runtime(runtime: Runtime | None) -> Runtime:
    return runtime if runtime is not None else _current.get_runtime()


def span_rows(runtime: Runtime | None = None, selection: Selection | None = None) -> list[SpanRow]:
    """The spans of the selected processes (all when None) as rows: this process's first, oldest first."""
    rt = _runtime(runtime)
    received = rt.receiver.rings.span_rows if rt.receiver is not None else None
    return _rows(rt, selection or Selection(), rt.span_buffer, span_row, received)


def log_rows(runtime: Runtime | None = None, selection: Selection | None = None) -> list[LogRow]:
    """The log records of the selected processes (all when None) as rows: this process's first, oldest first."""
    rt = _runtime(runtime)
    received = rt.receiver.rings.log_rows if rt.receiver is not None else None
    return _rows(rt, selection or Selection(), rt.log_buffer, log_row, received)


def _rows(
    rt: Runtime,
    chosen: Selection,
    buffer: Any,
    to_row: Callable[[Any, str, str], _Row],
    received: Callable[[str | None], list[_Row]] | None,
) -> list[_Row]:
    """This process's items of ``buffer`` as rows when it is selected, then the selected received rows."""
    local = local_process(rt)
    rows: list[_Row] = []
    if buffer is not None and chosen.matches(local.service, local.instance):
        rows = [to_row(item, local.service, local.instance) for item in buffer.recent()]
    if received is not None:
        got = received(chosen.service)
        rows += got if chosen.instance is None else [r for r in got if r.instance == chosen.instance]
    return rows


class View:
    """A runtime's telemetry seen through a `Selection`: made by `select`.

    Attributes:
        runtime: the runtime read.
        selection: the selection.
        local: this process.
        processes: the selected processes (this one first when selected, then the senders).
        store: the runtime's store showing the selected processes' series only.
    """

    def __init__(self, runtime: Runtime, selection: Selection) -> None:
        self.runtime = runtime
        self.selection = selection
        self.local = local_process(runtime)
        self.processes = [p for p in processes(runtime) if selection.matches(p.service, p.instance)]
        self.store = SelectedStore(runtime.store, self)
        per_service = Counter(p.service for p in self.processes)
        self.several_services = len(per_service) > 1
        self._several_instances = {service for service, n in per_service.items() if n > 1}

    def origin(self, attributes: Mapping[str, AttributeValue]) -> tuple[str, str]:
        """(service, instance) of a series' attributes: the sender's for a received series, else this process's."""
        if received(attributes):
            return str(attributes[SERVICE]), str(attributes[INSTANCE])
        return self.local.service, self.local.instance

    def includes(self, attributes: Mapping[str, AttributeValue]) -> bool:
        """Whether a series with these attributes belongs to a selected process."""
        return self.selection.matches(*self.origin(attributes))

    def who(self, service: str, instance: str) -> str:
        """What tells a process apart from the others in view (``""`` when it is alone).

        Its service when the view has several, and its instance when its service has several.
        """
        parts = [service] if self.several_services else []
        if service in self._several_instances:
            parts.append(instance or "this process")
        return " · ".join(parts)

    def who_of(self, series: Series) -> str:
        """`who` of the process a series came from."""
        return self.who(*self.origin(series.attributes))

    def span_rows(self) -> list[SpanRow]:
        """The selected processes' spans as rows (`span_rows`)."""
        return span_rows(self.runtime, self.selection)

    def log_rows(self) -> list[LogRow]:
        """The selected processes' log records as rows (`log_rows`)."""
        return log_rows(self.runtime, self.selection)

    def histograms(self, name: str, where: Mapping[str, AttributeValue] | None = None) -> list[HistogramSeries]:
        """The received histogram series of ``name`` (with every item of ``where``) from the selected processes."""
        receiver = self.runtime.receiver
        if receiver is None:
            return []
        return [s for s in receiver.histograms.series(name, where) if self.includes(s.attributes)]


class SelectedStore:
    """A read-only view of a store: the series of the selected processes only, read as from the store itself."""

    def __init__(self, store: MetricStore, view: View) -> None:
        self.store = store
        self.view = view

    def _chosen(self, found: list[Series]) -> list[Series]:
        if self.view.selection.everything:
            return found
        includes = self.view.includes
        return [s for s in found if includes(s.attributes)]

    def series(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> list[Series]:
        """The selected series of ``name`` whose attributes include every item of ``attributes``."""
        return self._chosen(self.store.series(name, attributes))

    def received(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> list[Series]:
        """`series` sent by other processes only."""
        return [s for s in self.series(name, attributes) if received(s.attributes)]

    def local(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> list[Series]:
        """`series` of this process only."""
        return [s for s in self.series(name, attributes) if not received(s.attributes)]

    def all_series(self) -> list[Series]:
        """Every selected series."""
        return self._chosen(self.store.all_series())

    def names(self) -> list[str]:
        """Every metric name with a selected series, sorted."""
        return sorted({s.name for s in self.all_series()})

    def info(self, name: str | None = None) -> list[SeriesInfo]:
        """As `MetricStore.info`, for the selected series."""
        return series_info(self.all_series() if name is None else self.series(name))

    def history(
        self,
        name: str,
        attributes: Mapping[str, AttributeValue] | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[MetricPoint]:
        """As `MetricStore.history`, for the selected series."""
        return merged_points(self.series(name, attributes), since, until, limit)


def select(runtime: Runtime | None = None, service: str | None = None, instance: str | None = None) -> View:
    """A `View` of ``runtime`` (the current one when None) showing the chosen service and instance.

    Raises:
        TypeError, ValueError: a bad ``service`` or ``instance`` (see `Selection`).
    """
    return View(_runtime(runtime), Selection(service, instance))
