"""Small internal helpers shared by several modules."""

from __future__ import annotations

import logging
import math
import reprlib
import time
from collections.abc import Mapping
from typing import Any

from zgen_otel._fork import fork_safe_lock

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_WINDOW",
    "RateLimitedLogger",
    "check_attributes",
    "check_count",
    "check_limit",
    "check_number",
    "check_text",
    "finite_float",
    "non_negative_seconds",
    "positive_seconds",
    "safe_repr",
]

#: The range of an OTel (and OTLP) integer attribute or value: a signed 64-bit integer.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: A time window longer than this (about 31,700 years) reaches past every sample: longer ones are cut to it, so
#: the store's millisecond arithmetic stays finite (``window_seconds=1e306`` would make it overflow).
MAX_WINDOW = 1e12


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
        """Like :meth:`warning`, with the current exception's traceback, at ERROR level."""
        suppressed = self._due(key)
        if suppressed is not None:
            suffix = f" ({suppressed} similar messages suppressed)" if suppressed else ""
            self._logger.exception(msg + suffix, *args)


def finite_float(value: int | float) -> float | None:
    """``float(value)``, or None when it is NaN, infinite, or an int too large for a float."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def check_number(what: str, value: object, *, minimum: float = 0.0) -> float | None:
    """A filter's number (None passes): ``TypeError`` unless a finite int or float, ``ValueError`` below ``minimum``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a finite number or None; got {safe_repr(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int past the float range
        raise ValueError(f"{what} is out of range; got {safe_repr(value)}") from None
    if not math.isfinite(number):
        raise TypeError(f"{what} must be a finite number or None; got {safe_repr(value)}")
    if number < minimum:
        raise ValueError(f"{what} must be >= {minimum}; got {safe_repr(value)}")
    return number


def check_text(what: str, value: object) -> str | None:
    """A filter's text: ``value`` when a str or None; ``TypeError`` naming ``what`` otherwise."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{what} must be a str or None; got {safe_repr(value)}")
    return value


def check_limit(limit: object, maximum: int) -> int:
    """A query's ``limit``: a whole number from 1 to ``maximum`` (bools refused); ``ValueError`` otherwise."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise ValueError(f"limit must be a whole number from 1 to {maximum}; got {safe_repr(limit)}")
    return limit


def check_count(name: str, value: object, *, minimum: int) -> int:
    """A whole number >= ``minimum`` (bools refused); ``ValueError`` naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}; got {safe_repr(value)}")
    return value


def positive_seconds(name: str, value: object) -> float:
    """``value`` as a finite number of seconds > 0 (bools refused); ``ValueError`` naming ``name`` otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = finite_float(value)
        if seconds is not None and seconds > 0:
            return seconds
    raise ValueError(f"{name} must be a finite number of seconds > 0; got {safe_repr(value)}")


def non_negative_seconds(name: str, value: object) -> float:
    """``value`` as a finite number of seconds >= 0 (bools refused; ``-0.0`` gives 0.0); ``ValueError`` otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = finite_float(value)
        if seconds is not None and seconds >= 0:
            return 0.0 if seconds == 0 else seconds  # -0.0 becomes 0.0
    raise ValueError(f"{name} must be a finite number of seconds >= 0; got {safe_repr(value)}")


def check_attributes(attributes: object) -> dict[str, str | bool | int | float]:
    """A copy of ``attributes`` after checking it maps non-empty str keys to str, bool, int or finite float.

    Integers must fit in a signed 64-bit integer (what an OTel attribute, and OTLP, can carry).

    Raises:
        TypeError: naming the mapping, key or value that breaks the rule.
    """
    if not isinstance(attributes, Mapping):
        raise TypeError(f"attributes must be a mapping of str to str/bool/int/float; got {safe_repr(attributes)}")
    for k, v in attributes.items():
        if not isinstance(k, str) or not k:
            raise TypeError(f"attribute keys must be non-empty str; got {safe_repr(k)}")
        if (
            not isinstance(v, (str, bool, int, float))
            or (isinstance(v, float) and not math.isfinite(v))
            or (isinstance(v, int) and not INT64_MIN <= v <= INT64_MAX)
        ):
            raise TypeError(
                f"attribute {safe_repr(k)} must be a str, bool, int (signed 64-bit) or finite float; got {safe_repr(v)}"
            )
    return dict(attributes)


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
