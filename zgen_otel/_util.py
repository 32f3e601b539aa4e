"""Small internal helpers shared by several modules."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

__all__ = ["RateLimitedLogger"]


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
