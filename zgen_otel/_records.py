"""Turning OTel spans and log records into JSON-ready dicts for the local views, values clipped to a size."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["clip", "clip_attributes", "hex_id"]

MARKER = "… [truncated {n} chars]"


def clip(value: Any, limit: int) -> tuple[Any, bool]:
    """``value`` made JSON-ready (sequences as lists, other objects as ``str``) with strings cut to ``limit``.

    Returns the value and whether anything was cut; a cut string ends with a marker saying how much went.
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return value, False
        return value[:limit] + MARKER.format(n=len(value) - limit), True
    if isinstance(value, (bool, int, float)) or value is None:
        return value, False
    if isinstance(value, (list, tuple)):
        items = [clip(v, limit) for v in value]
        return [v for v, _ in items], any(cut for _, cut in items)
    if isinstance(value, bytes):
        return clip(value.decode("utf-8", "replace"), limit)
    return clip(str(value), limit)


def clip_attributes(attributes: Mapping[str, Any] | None, limit: int) -> tuple[dict[str, Any], bool]:
    """Every attribute value clipped with :func:`clip`; and whether any was cut."""
    out: dict[str, Any] = {}
    cut_any = False
    for key, value in (attributes or {}).items():
        out[str(key)], cut = clip(value, limit)
        cut_any = cut_any or cut
    return out, cut_any


def hex_id(value: int, width: int) -> str | None:
    """A trace (``width`` 32) or span (16) id as lower-case hex; None for the invalid id 0."""
    return format(value, f"0{width}x") if value else None
