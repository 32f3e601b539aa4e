"""The checks of user input, one function per check, shared by every module that validates something.

Each check returns the value it accepted (normalised where said) or raises ``TypeError`` (wrong type) or
``ValueError`` (right type, value not allowed) with a message naming the argument, the bad value and what
is allowed. NaN and infinities count as "not a finite number" everywhere.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Collection, Iterable, Mapping

from zgen_otel._util import safe_repr

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_WINDOW",
    "check_attributes",
    "check_choice",
    "check_count",
    "check_limit",
    "check_name",
    "check_number",
    "check_sdk_extras",
    "check_text",
    "check_trace_id",
    "finite_float",
    "limit_attributes",
    "non_negative_seconds",
    "positive_seconds",
]

#: The range of an OTel (and OTLP) integer attribute or value: a signed 64-bit integer.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: A time window longer than this (about 31,700 years) reaches past every sample: longer ones are cut to it, so
#: the store's millisecond arithmetic stays finite (``window_seconds=1e306`` would make it overflow).
MAX_WINDOW = 1e12


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
        raise ValueError(f"{what} must be a finite number or None; got {safe_repr(value)}")
    if number < minimum:
        raise ValueError(f"{what} must be >= {minimum}; got {safe_repr(value)}")
    return number


def check_text(what: str, value: object) -> str | None:
    """A filter's text: ``value`` when a str or None; ``TypeError`` naming ``what`` otherwise."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{what} must be a str or None; got {safe_repr(value)}")
    return value


def check_name(
    what: str, name: object, pattern: re.Pattern[str], rule: str, *, error: type[ValueError] = ValueError
) -> str:
    """A name (of a metric, an operation, a rule): ``name`` when it is a str matching ``pattern``.

    Raises:
        TypeError: ``name`` is not a str.
        ValueError: (or the ``error`` subclass given) it does not match; the message names it and says ``rule``.
    """
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str; got {type(name).__name__} {safe_repr(name)}")
    if not pattern.fullmatch(name):
        raise error(f"{what} {safe_repr(name)} is not valid: it {rule}")
    return name


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


def check_choice(what: str, value: str, allowed: Collection[str], *, shown: object = None) -> str:
    """``value`` when it is one of ``allowed``; ``ValueError`` naming ``what``, the value and the choices otherwise.

    ``shown`` is the value as the caller gave it, when ``value`` is a normalised form of it (e.g. upper-cased).
    """
    if value not in allowed:
        given = value if shown is None else shown
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {safe_repr(given)}")
    return value


def check_trace_id(trace_id: object) -> str:
    """A trace id as 32 lower-case hex digits; ``ValueError`` unless it is a str of 32 hex digits."""
    if not isinstance(trace_id, str) or len(trace_id) != 32 or any(c not in "0123456789abcdefABCDEF" for c in trace_id):
        raise ValueError(f"trace_id must be 32 hex digits; got {safe_repr(trace_id)}")
    return trace_id.lower()


def limit_attributes(
    attributes: dict[str, str | bool | int | float], max_count: int, max_length: int
) -> tuple[dict[str, str | bool | int | float], int]:
    """``attributes`` within the limits, as the OTel SDK applies its span limits, and how many items it changed.

    The first ``max_count`` attributes are kept (in the order given) and the rest dropped; str values longer
    than ``max_length`` characters are cut to it. ``attributes`` comes back as is when it is within both.
    """
    changed = max(0, len(attributes) - max_count)
    kept = dict(itertools.islice(attributes.items(), max_count)) if changed else attributes
    for k, v in kept.items():
        if isinstance(v, str) and len(v) > max_length:
            if kept is attributes:
                kept = dict(attributes)
            kept[k] = v[:max_length]
            changed += 1
    return kept, changed


def check_sdk_extras(clock: object, metric_readers: Iterable[object], span_processors: Iterable[object]) -> None:
    """``configure``'s ``clock``, readers and processors: refused (``TypeError``) when building would fail with them."""
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.trace import SpanProcessor

    if clock is not None and not callable(clock):
        raise TypeError(f"clock must be a callable returning Unix seconds; got {safe_repr(clock)}")
    for what, items, kind in (("metric_readers", metric_readers, MetricReader),
                              ("span_processors", span_processors, SpanProcessor)):  # fmt: skip
        bad = [item for item in items if not isinstance(item, kind)]
        if bad:
            raise TypeError(f"{what} must hold OTel SDK {kind.__name__} objects; got {safe_repr(bad[0])}")
