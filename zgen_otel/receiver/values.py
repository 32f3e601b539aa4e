"""Reading OTLP messages: attribute values, and which process a resource is (its service and instance)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from zgen_otel._series import AttributeValue

__all__ = ["SERVICE_KEYS", "Origin", "any_value", "attributes", "origin", "plain"]

#: The attributes that every received series carries: which service, and which process of it, sent it.
SERVICE_KEYS = ("service.name", "service.instance.id")


class Origin(NamedTuple):
    """Which process sent a batch: from its resource's ``service.name``, ``service.instance.id``, host and pid."""

    service: str
    instance: str
    host: str
    pid: int | None


def any_value(value: Any) -> AttributeValue | None:
    """An OTLP ``AnyValue`` as a store attribute value: arrays and maps as JSON text, bytes as hex; None if empty."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in ("array_value", "kvlist_value"):
        return json.dumps(plain(value), ensure_ascii=False, separators=(",", ":"))
    if kind == "bytes_value":
        return bytes(value.bytes_value).hex()
    found: AttributeValue = getattr(value, kind)
    return found


def plain(value: Any) -> Any:
    """An ``AnyValue`` as plain JSON-ready Python (nested arrays and maps kept)."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [plain(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: plain(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return bytes(value.bytes_value).hex()
    return None if kind is None else getattr(value, kind)


def attributes(items: Iterable[Any]) -> dict[str, AttributeValue]:
    """OTLP ``KeyValue`` s as a dict (empty values left out; the last of a repeated key wins)."""
    out: dict[str, AttributeValue] = {}
    for kv in items:
        v = any_value(kv.value)
        if v is not None:
            out[kv.key] = v
    return out


def origin(resource_attributes: dict[str, AttributeValue]) -> Origin:
    """The process a resource describes.

    The instance is ``service.instance.id``; without it, ``host.name:process.pid`` when both are there, else the
    host name, else ``"unknown"``: processes that say nothing of themselves share one instance.
    """
    service = str(resource_attributes.get("service.name") or "unknown_service")
    host = str(resource_attributes.get("host.name", ""))
    pid_value = resource_attributes.get("process.pid")
    pid = pid_value if isinstance(pid_value, int) and not isinstance(pid_value, bool) else None
    instance = resource_attributes.get("service.instance.id")
    if not instance:
        instance = f"{host}:{pid}" if host and pid is not None else host or "unknown"
    return Origin(service, str(instance), host, pid)
