"""Telemetry received over OTLP from other processes: the receiver behind ``zgen-otel serve``'s OTLP endpoints."""

from zgen_otel.receiver.histograms import Histograms, HistogramSeries, HistogramSummary, summarize
from zgen_otel.receiver.receiver import STALE_AFTER, Busy, Receiver, Sender
from zgen_otel.receiver.values import SERVICE_KEYS, Origin

__all__ = [
    "SERVICE_KEYS",
    "STALE_AFTER",
    "Busy",
    "HistogramSeries",
    "HistogramSummary",
    "Histograms",
    "Origin",
    "Receiver",
    "Sender",
    "summarize",
]
