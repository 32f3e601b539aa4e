"""Small internal helpers shared by several modules."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["RateLimitedLogger", "check_attributes", "positive_seconds"]


class RateLimitedLogger:
    """Log a message at most once per ``interval`` seconds per key, counting what was suppressed.

    Telemetry runs on hot paths: a bad value recorded in a loop must not flood the host's logs.
    """

    def __init__(self, logger: logging.Logger, interval: float = 60.0) -> None:
        self._logger = logger
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

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
        """Like :meth:`warning`, with the current exception's traceback, at ERROR level."""
        suppressed = self._due(key)
        if suppressed is not None:
            suffix = f" ({suppressed} similar messages suppressed)" if suppressed else ""
            self._logger.exception(msg + suffix, *args)


def positive_seconds(name: str, value: object) -> float:
    """``value`` as a finite number of seconds > 0 (bools refused); ``ValueError`` naming ``name`` otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return float(value)
    raise ValueError(f"{name} must be a finite number of seconds > 0; got {value!r}")


def check_attributes(attributes: object) -> dict[str, str | bool | int | float]:
    """A copy of ``attributes`` after checking it maps non-empty str keys to str, bool, int or finite float.

    Raises:
        TypeError: naming the mapping, key or value that breaks the rule.
    """
    if not isinstance(attributes, Mapping):
        raise TypeError(f"attributes must be a mapping of str to str/bool/int/float; got {attributes!r}")
    for k, v in attributes.items():
        if not isinstance(k, str) or not k:
            raise TypeError(f"attribute keys must be non-empty str; got {k!r}")
        if not isinstance(v, (str, bool, int, float)) or (isinstance(v, float) and not math.isfinite(v)):
            raise TypeError(f"attribute {k!r} must be a str, bool, int or finite float; got {v!r}")
    return dict(attributes)
