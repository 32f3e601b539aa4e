"""Small helpers shared by several modules: a rate-limited logger, an error-message ``repr``, RFC 3339 time.

The input checks live in `zgen_otel._validate`.
"""

from __future__ import annotations

import logging
import reprlib
import time
from datetime import datetime, timezone
from typing import Any

from zgen_otel._fork import fork_safe_lock

__all__ = ["RateLimitedLogger", "iso_utc", "safe_repr"]


class RateLimitedLogger:
    """Log a message at most once per ``interval`` seconds per key, counting what was suppressed.

    Telemetry runs on hot paths: a bad value recorded in a loop must not flood the host's logs.
    """

    def __init__(self, logger: logging.Logger, interval: float = 60.0) -> None:
        self._logger = logger
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = fork_safe_lock()

    def _due(self, key: str) -> int | None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._suppressed.pop(key, 0)

    def warning(self, key: str, msg: str, *args: Any) -> None:
        """Log ``msg % args`` as a warning unless ``key`` was logged within the interval."""
        suppressed = self._due(key)
        if suppressed is not None:
            suffix = f" ({suppressed} similar messages suppressed)" if suppressed else ""
            self._logger.warning(msg + suffix, *args)

    def exception(self, key: str, msg: str, *args: Any) -> None:
        """Like `warning`, with the current exception's traceback, at ERROR level."""
        suppressed = self._due(key)
        if suppressed is not None:
            suffix = f" ({suppressed} similar messages suppressed)" if suppressed else ""
            self._logger.exception(msg + suffix, *args)


def safe_repr(value: object, limit: int = 1000) -> str:
    """``repr(value)`` for an error message: cut to ``limit`` characters, and never raising.

    Bad input can be a megabyte of text, an int too long for ``repr`` (Python refuses more than 4300
    digits), or an object whose ``__repr__`` raises.
    """
    try:
        text = repr(value)
    except Exception:
        try:  # e.g. a list holding such an int: the container shown, the int described
            text = _SafeRepr().repr(value)
        except Exception:
            text = f"<{type(value).__name__} object at {id(value):#x}>"
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


class _SafeRepr(reprlib.Repr):
    """``reprlib`` with generous limits, for values whose own ``repr`` fails."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxdict, self.maxlist, self.maxtuple, self.maxset = 4, 20, 20, 20, 20
        self.maxstring, self.maxother = 1000, 1000

    def repr_int(self, x: int, level: int) -> str:
        try:
            return repr(x)
        except ValueError:  # more digits than Python converts
            return f"<int of {x.bit_length()} bits>"

    def repr_instance(self, x: Any, level: int) -> str:
        try:
            return repr(x)
        except Exception:
            return f"<{type(x).__name__} object at {id(x):#x}>"


def iso_utc(ts: float) -> str:
    """A Unix time as RFC 3339 UTC text with a ``Z``, as Alertmanager and the dashboards' JSON write it."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")
