"""Numbers and times as people read them: the one formatter of every value and time on every page and chart.

`format_value` writes a value in its unit (OTel/UCUM units as the metrics carry them): thousands separators
(``89,040``), SI prefixes past a billion (``12.3 G``), binary prefixes for bytes (``977 KiB/s``), durations in
ns/µs/ms/s (``154 µs``, never ``0 s``), ratios and percentages in % , money with its currency (``$0.0123``; an
unknown price is ``no price``, never 0) and a Unix time in seconds as a time of day. No exponent is ever
written: past the SI prefixes a power of ten is written with a multiplication sign and superscript digits.
`plain` is the number alone.

`format_time` writes every time a page shows, in one format: the local time of day (``14:45:16``), with
the date before it when it is not today; `zone_label` names the zone, said once per page.

The live page's hover values use the same rules, ported to JavaScript in ``templates/_format.html``; a test
compares the two.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable

from zgen_otel._util import iso_utc

__all__ = [
    "BINARY_PREFIXES",
    "CLOCK",
    "CURRENCY_SYMBOLS",
    "ISO",
    "MISSING",
    "NO_PRICE",
    "SI_PREFIXES",
    "TO_SECONDS",
    "format_duration",
    "format_money",
    "format_span",
    "format_time",
    "format_value",
    "is_currency",
    "is_timestamp",
    "plain",
    "unit_text",
    "utc_offset",
    "zone_label",
]

#: `format_time` pattern: ISO 8601 in UTC with a ``Z`` (``2026-11-28T22:01:29.250000Z``), for JSON documents.
ISO = "iso"
#: `format_time` pattern: the local time of day (``14:45:16``), with the date when not today
#: (``2026-11-28 14:45:16``): the one format of the times on the pages.
CLOCK = "clock"


#: What a missing value is written as.
MISSING = "\u2013"  # an en dash
#: What an unknown price (a cost that was never computed) is written as: never 0.
NO_PRICE = "no price"
#: Currencies written with their symbol before the amount; any other ISO 4217 code follows it (``1.50 CHF``).
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
_CURRENCY = re.compile("[A-Z]{3}")
#: Units written with another symbol.
_SYMBOLS = {"Cel": "°C", "%": "%"}
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
#: The SI prefixes used past a billion (below, numbers are written out with separators).
SI_PREFIXES = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"))
#: The binary prefixes of byte units (KiB, MiB...).
BINARY_PREFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
#: Seconds-valued readings at or past this (2001-09-09) and before ``_TIMESTAMP_END`` (2286) are Unix times.
_TIMESTAMP_START, _TIMESTAMP_END = 1e9, 1e10
#: Seconds per one of each duration unit.
TO_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def _power_of_ten(x: float, digits: int) -> str:
    """``x`` as a mantissa times a power of ten in superscript digits (the float range's ends)."""
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}\u00d710{str(int(exponent)).translate(_SUPERSCRIPT)}"


def _fixed(x: float, digits: int) -> str:
    """``x`` (below a billion) with ``digits`` significant digits, grouped by thousands, no trailing zeros.

    Whole numbers and values of 100 or more are written to the unit: ``89,040``, ``1,235``.
    """
    a = abs(x)
    if x == round(x) or a >= 10 ** (digits - 1):
        text = f"{math.copysign(math.floor(a + 0.5), x):,.0f}"  # halves away from zero, as people (and JS) round
    else:
        decimals = digits - 1 - math.floor(math.log10(a))
        text = f"{x:,.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _prefixed(x: float, digits: int) -> tuple[str, str]:
    """``x`` (a millionth to 10²¹) as a number and an SI prefix (``""`` below a billion): ``("12.3", "G")``."""
    a = abs(x)
    for i, (size, prefix) in enumerate(SI_PREFIXES):
        if a >= size:
            text = _fixed(x / size, digits)
            if text.lstrip("-") == "1,000" and i:  # 999.96 G rounds to 1,000 G: the next prefix up
                size, prefix = SI_PREFIXES[i - 1]
                text = _fixed(x / size, digits)
            return text, prefix
    text = _fixed(x, digits)
    return (_fixed(x / 1e9, digits), "G") if text.lstrip("-") == "1,000,000,000" else (text, "")


def plain(x: float, digits: int = 3) -> str:
    """A number alone, for people: ``89,040``, ``12.3``, ``0.0123``, ``1.23 G``; never ``e+``.

    Args:
        x: a finite number.
        digits: significant digits of a fraction (whole numbers below a billion are written in full).

    Returns:
        The text; past a billion with an SI prefix after a space, below a millionth or past 10²¹ as a power of ten.
    """
    if x == 0:
        return "0"
    if not 1e-6 <= abs(x) < 1e21:
        return _power_of_ten(x, digits)
    text, prefix = _prefixed(x, digits)
    return f"{text} {prefix}" if prefix else text


def is_currency(unit: str) -> bool:
    """Whether ``unit`` names a currency (an ISO 4217 code such as ``USD``)."""
    return bool(_CURRENCY.fullmatch(unit))


def is_timestamp(value: float, unit: str) -> bool:
    """Whether a reading in seconds is a Unix time (2001 to 2286: no duration of a program is 31 years long)."""
    return unit == "s" and _TIMESTAMP_START <= value < _TIMESTAMP_END


def format_money(value: float | None, currency: str = "USD") -> str:
    """An amount with its currency: ``$0.0123``, ``$0.50``, ``$1,234.57``, ``0.50 CHF``; None is ``no price``."""
    if value is None or not math.isfinite(value):
        return NO_PRICE if value is None else MISSING
    a = abs(value)
    if a == 0 or 1e-6 <= a < 1:  # three significant digits of a small amount, cents at least: $0.0123, $0.50
        amount = f"{a:.{2 - math.floor(math.log10(a)) if a else 2}f}"
        while amount.endswith("0") and len(amount.split(".")[1]) > 2:
            amount = amount[:-1]
    else:
        amount = f"{a:,.2f}" if 1 <= a < 1e9 else plain(a)
    sign = "-" if value < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency}"


def format_duration(seconds: float | None) -> str:
    """A duration in ns, µs, ms or s, whichever reads best: ``154 µs``, ``86.2 ms``, ``1.5 s``, ``3,600 s``."""
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    a = abs(seconds)
    for limit, factor, suffix in ((1e-6, 1e9, "ns"), (1e-3, 1e6, "µs"), (1.0, 1e3, "ms")):
        if 0 < a < limit:
            text = plain(seconds * factor)
            if text.lstrip("-") != "1,000":  # 999.96 µs rounds to 1,000 µs: the next unit
                return f"{text} {suffix}"
    return f"{plain(seconds)} s"


def format_span(seconds: float) -> str:
    """A window's length in words: ``minute``, ``hour``, ``day``, else ``30 s``, ``5 min``, ``6 h``, ``7 d``."""
    named = {60.0: "minute", 3600.0: "hour", 86_400.0: "day"}.get(float(seconds))
    if named:
        return named
    for size, unit in ((86_400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{plain(seconds / size)} {unit}"
    return f"{plain(seconds)} s"


def unit_text(unit: str) -> str:
    """How a unit is written after a number: ``""`` for an annotation such as ``{token}``, ``°C`` for ``Cel``."""
    if not unit or unit.startswith("{"):
        return ""
    return _SYMBOLS.get(unit, unit)


def _bytes(value: float, unit: str) -> str:
    """Bytes (``By``, ``By/s``...) with a binary prefix: ``977 KiB/s``, ``1.5 GiB``."""
    a, power = abs(value), 0
    while a >= 1024 and power < len(BINARY_PREFIXES) - 1:
        a /= 1024
        power += 1
    text = plain(value / 1024**power)
    if text.lstrip("-") == "1,024" and power < len(BINARY_PREFIXES) - 1:  # 1023.9 KiB rounds to 1,024 KiB
        text, power = plain(value / 1024 ** (power + 1)), power + 1
    return f"{text} {BINARY_PREFIXES[power]}B{unit[2:]}"


def format_value(value: float | None, unit: str = "") -> str:
    """A value in its unit, as people read it: the formatter of every page (the ``value`` filter).

    Args:
        value: the number; None (or NaN) is written `MISSING`, except for a currency (``no price``).
        unit: the metric's unit: ``s`` (and ``ms``, ``us``, ``ns``) for durations, ``By`` and ``By/...`` for
            bytes, ``1`` for a ratio (written in %), ``%``, an ISO 4217 currency code, an annotation such as
            ``{token}`` (not written), or any other unit (written after the number).

    Returns:
        The text: ``89,040``, ``154 µs``, ``977 KiB/s``, ``12.5 %``, ``$0.0123``, ``no price``, ``14:45:16``...
    """
    if is_currency(unit):
        return format_money(value, unit)
    if value is None or not math.isfinite(value):
        return MISSING
    if abs(value) < 1e-12:
        value = 0.0
    writer = _WRITERS.get(unit)
    if writer is not None:
        return writer(value)
    if unit.startswith("By"):
        return _bytes(value, unit)
    if unit in TO_SECONDS:
        return format_duration(value * TO_SECONDS[unit])
    text = unit_text(unit)
    if not text:
        return plain(value)
    if not 1e-6 <= abs(value) < 1e21:
        return f"{plain(value)} {text}"
    number, prefix = _prefixed(value, 3)
    return f"{number} {prefix}{text}"


def _seconds(value: float) -> str:
    """A reading in seconds: a Unix time as the time it names, else a duration."""
    return format_time(value, CLOCK) if is_timestamp(value, "s") else format_duration(value)


def format_time(ts: float, pattern: str = ISO) -> str:
    """A Unix time as text: the one time formatter of the pages, their charts and the JSON documents.

    Args:
        ts: seconds since the epoch.
        pattern: `CLOCK` (local time of day, with the date when it is not today), `ISO` (UTC, for
            ``generated_at``), or a ``time.strftime`` pattern, written in local time (chart axes).

    Returns:
        The formatted time.
    """
    if pattern == ISO:
        return iso_utc(ts)
    local = time.localtime(ts)
    if pattern == CLOCK:
        today = time.localtime()[:3] == local[:3]
        return time.strftime("%H:%M:%S" if today else "%Y-%m-%d %H:%M:%S", local)
    return time.strftime(pattern, local)


def utc_offset(ts: float | None = None) -> int:
    """The local time zone's offset from UTC at ``ts`` (now by default), in seconds: what a page's script adds."""
    return time.localtime(ts).tm_gmtoff or 0


def zone_label(ts: float | None = None) -> str:
    """The local time zone at ``ts`` (now by default), said once per page: ``UTC`` or ``CET (UTC+01:00)``."""
    local = time.localtime(ts)
    offset = local.tm_gmtoff or 0
    name = local.tm_zone or ""
    if offset == 0 and name in ("UTC", "GMT", ""):
        return "UTC"
    sign, offset = ("+" if offset >= 0 else "-"), abs(offset)
    utc = f"UTC{sign}{offset // 3600:02d}:{offset % 3600 // 60:02d}"
    return f"{name} ({utc})" if name and name[0] not in "+-" else utc


_WRITERS: dict[str, Callable[[float], str]] = {
    "s": _seconds,
    "1": lambda v: f"{plain(v * 100)} %",
    "%": lambda v: f"{plain(v)} %",
}
