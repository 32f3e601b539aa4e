"""Chart axes people can read: round value ticks in the axis's own unit and time ticks on the clock's round times.

`value_ticks` picks one display unit for a whole axis (``KiB/s``, ``ms``, ``%``...), said once as the axis's
caption, and steps of 1, 2, 2.5 or 5 times a power of ten in it (``0 / 250 / 500 / 750`` ``KiB/s``);
`log_ticks` the powers of ten of a log axis (``100 µs / 1 ms / 10 ms``). `time_ticks` steps by tenths of a
second, 1, 2, 5, 10, 15 or 30 seconds, minutes or a few hours, aligned to the local clock
(``14:45 / 14:50 / 14:55``). `nice_step` is the 1-2-2.5-5 step for any other round scale (the trace ruler).
The labels come from `formats`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import NamedTuple

from zgen_otel.dashboards.formats import (
    BINARY_PREFIXES,
    CURRENCY_SYMBOLS,
    SI_PREFIXES,
    TO_SECONDS,
    format_time,
    format_value,
    is_currency,
    is_timestamp,
    plain,
    unit_text,
)

__all__ = ["Axis", "Tick", "clock_text", "log_bounds", "log_ticks", "nice_step", "time_ticks", "value_ticks"]

_MANTISSAS = (1.0, 2.0, 2.5, 5.0, 10.0)
_TIME_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600,
               43_200, 86_400, 172_800, 604_800)  # fmt: skip


class Tick(NamedTuple):
    """One tick of an axis: where it is (in the data's unit or Unix seconds) and its label."""

    value: float
    label: str


def _scale(top: float, unit: str) -> tuple[float, Callable[[str], str], str]:
    """How one axis with values up to ``top`` writes its numbers: the factor, the label of a number, the caption.

    A unit written in letters (``KiB/s``, ``ms``, ``W``) is the axis's caption, said once; ``%`` and a currency's
    symbol are short enough to go with each number; an annotation (``{token}``) is not written.
    """
    if unit.startswith("By"):
        power = 0
        while top >= 1024**power * 1024 and power < len(BINARY_PREFIXES) - 1:
            power += 1
        return 1024.0**-power, str, f"{BINARY_PREFIXES[power]}B{unit[2:]}"
    if unit in TO_SECONDS:
        seconds = top * TO_SECONDS[unit]
        size, name = next(((s, n) for s, n in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")) if seconds >= s), (1e-9, "ns"))
        return TO_SECONDS[unit] / size, str, name
    if unit in ("1", "%"):
        return (100.0 if unit == "1" else 1.0), lambda n: f"{n} %", ""
    if is_currency(unit):
        symbol = CURRENCY_SYMBOLS.get(unit)
        if symbol is None:
            return 1.0, str, unit
        return 1.0, lambda n: symbol + n if not n.startswith("-") else f"-{symbol}{n[1:]}", ""
    text = unit_text(unit)
    size, prefix = next(((s, p) for s, p in SI_PREFIXES if s <= top < 1e21), (1, ""))  # past 10²¹: powers of ten
    if text:
        return 1.0 / size, str, f"{prefix}{text}"
    return 1.0 / size, (lambda n: n if n == "0" else f"{n} {prefix}") if prefix else str, ""


def _prefixed(label: Callable[[str], str], prefix: str) -> Callable[[str], str]:
    """``label`` of a number with an SI ``prefix`` after it (``250 G``; zero has none)."""
    return lambda n: label(n if n == "0" else f"{n} {prefix}")


def nice_step(raw: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is at least ``raw`` (> 0).

    Args:
        raw: the step the scale would need to fit its ticks.

    Returns:
        The round step to use instead.
    """
    magnitude = 10 ** math.floor(math.log10(raw))
    return min((m * magnitude for m in _MANTISSAS if m * magnitude >= raw * (1 - 1e-12)), default=raw)


def _decimals(step: float) -> int:
    """Decimals that tell ticks ``step`` apart: 0 for 250, 1 for 0.5 and 2.5, 2 for 0.25."""
    places = max(0, -math.floor(math.log10(step) + 1e-9))
    return places + 1 if round(step / 10**-places, 9) % 1 else places


class Axis(NamedTuple):
    """A value axis: its ticks, lowest first, and its caption (the unit said once, ``""`` when the labels say it)."""

    ticks: list[Tick]
    caption: str


def value_ticks(lo: float, hi: float, unit: str = "", count: int = 4) -> Axis:
    """Round ticks from at most ``lo`` to at least ``hi`` on a linear axis, written in one display unit.

    Args:
        lo: the lowest value to show.
        hi: the highest value to show (``lo + 1`` when not above ``lo``).
        unit: the values' unit (see `format_value`).
        count: about how many steps the axis has.

    Returns:
        The axis: the first tick at or below ``lo``, the last at or above ``hi``, steps of 1, 2, 2.5 or 5 times
        a power of ten in the display unit (``0 / 250 / 500 / 750`` with the caption ``KiB/s``).
    """
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    if not math.isfinite(abs(lo) + abs(hi) + 2 * (hi - lo)) or not (hi - lo) / count >= 1e-300:
        # at the ends of the float range "nice" steps overflow (or underflow to 0): even ticks instead
        values = [lo + (hi / count - lo / count) * i for i in range(count)] + [hi]
        return Axis([Tick(v, format_value(v, unit)) for v in values], "")
    factor, label, caption = _scale(max(abs(lo), abs(hi)), unit)
    step = nice_step((hi - lo) * factor / count)
    top = max(abs(lo), abs(hi)) * factor
    if step >= 1e9 and top < 1e21 and not is_timestamp(hi, unit):  # 250 G, 500 G (%, $, s): one SI prefix
        size, prefix = next((s, p) for s, p in SI_PREFIXES if s <= top)
        factor, step = factor / size, step / size
        label = _prefixed(label, prefix)
    low, high = lo * factor, hi * factor
    first = math.floor(low / step + 1e-9)
    timestamps = is_timestamp(hi, unit)
    # steps past fixed-point text (under a millionth, a billion or more): SI prefixes or powers of ten, with the
    # digits that tell the ticks apart
    digits = None if 1e-6 <= step < 1e9 else max(3, math.ceil(math.log10(max(abs(low), abs(high)) / step)) + 2)
    ticks = []
    for i in range(first, first + count * 4):
        scaled = i * step
        number = round(scaled, 12)
        if timestamps:
            text = format_value(scaled / factor, unit)
        elif digits is None:
            text = label(f"{number:,.{_decimals(step)}f}" if number else "0")
        else:
            text = label(plain(scaled, digits))
        ticks.append(Tick(scaled / factor, text))
        if scaled >= high - step * 1e-9:
            break
    return Axis(ticks, "" if timestamps else caption)


def log_bounds(values: list[float]) -> tuple[float, float] | None:
    """The powers of ten around the positive ``values`` (None when there are none): a log axis's ends."""
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    if not positive:
        return None
    low, high = math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive)))
    return 10.0**low, 10.0 ** max(high, low + 1)


def log_ticks(lo: float, hi: float, unit: str = "") -> list[Tick]:
    """Powers of ten from ``lo`` to ``hi`` (both powers of ten), every other one past six decades."""
    low, high = round(math.log10(lo)), round(math.log10(hi))
    stride = 1 if high - low <= 6 else 2
    return [Tick(10.0**p, format_value(10.0**p, unit)) for p in range(low, high + 1, stride)]


def time_ticks(start: float, end: float, count: int = 5) -> list[Tick]:
    """Ticks at round local times between ``start`` and ``end``: every 30 s, 1 min, 5 min... aligned to the clock.

    Args:
        start: the axis's first time (Unix seconds).
        end: its last time.
        count: the most ticks wanted (one more may fit at the ends; a shorter step is taken when this one
            would give fewer than three).

    Returns:
        The ticks: ``14:45``, ``14:50`` (``14:45:30`` for steps under a minute, ``14:45:30.5`` under a second;
        the date before the first tick of a day, when the axis spans more than a day).
    """
    span = max(end - start, 1e-9)
    fits = [i for i, s in enumerate(_TIME_STEPS) if span / s <= count]
    step = None
    if fits:  # the shortest step giving at most `count` ticks, but at least 3 where a shorter step allows
        i = fits[0]
        step = _TIME_STEPS[i - 1] if i and span / _TIME_STEPS[i] < 3 else _TIME_STEPS[i]
    if step is None:  # longer than about a month: whole weeks
        step = _TIME_STEPS[-1] * math.ceil(span / count / _TIME_STEPS[-1])
    offset = time.localtime(start).tm_gmtoff or 0  # align to the local clock (midnight, hour, minute)
    first = math.ceil((start + offset) / step) * step - offset
    ticks, previous_day = [], None if span > 86_400 else time.localtime(start)[:3]
    at = first
    while at <= end + 1e-6:
        day = time.localtime(at)[:3]
        ticks.append(Tick(at, clock_text(at, step, dated=day != previous_day)))
        previous_day = day
        at += step
    return ticks


def clock_text(at: float, step: float, *, dated: bool = False) -> str:
    """A time tick's label: ``14:45`` for steps of a minute or more, ``14:45:30``, or ``14:45:30.5`` under a second.

    Args:
        at: the tick's time (Unix seconds).
        step: the axis's step in seconds (how precise the label must be).
        dated: put the date before the time (``Nov 28 14:45``).

    Returns:
        The label, in local time.
    """
    tenths = round(at * 10)  # 14:45:29.96 is 14:45:30.0, not 14:45:29.0
    pattern = "%H:%M:%S" if step < 60 else "%H:%M"
    text = format_time(tenths // 10 if step < 1 else at, f"%b %d {pattern}" if dated else pattern)
    return f"{text}.{tenths % 10}" if step < 1 else text
