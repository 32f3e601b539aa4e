"""The one formatter of numbers and times (in Python and in the pages' script), and the charts' ticks."""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

import zgen_otel
from zgen_otel.dashboards.dashboard import render_dashboard
from zgen_otel.dashboards.formats import MISSING, NO_PRICE, format_money, format_time, format_value, plain, zone_label
from zgen_otel.dashboards.rendering import CLOCK, format_ms
from zgen_otel.dashboards.ticks import log_bounds, log_ticks, time_ticks, value_ticks

EXPONENT = re.compile(r"\d[eE][+-]?\d")
TIMES = "\u00d7"  # the multiplication sign of 1.2x10^30


FORMAT_CASES: list[tuple[float | None, str, str]] = [
    (89_040, "{token}", "89,040"),  # tokens: thousands separators, not 8.904e+04
    (8.904e4, "", "89,040"),
    (1_234_567, "{token}", "1,234,567"),
    (12_345_678_901, "{token}", "12.3 G"),  # past a billion: an SI prefix
    (999.96e9, "", "1 T"),  # rounding up to 1,000 G moves to the next prefix
    (1.5e9, "W", "1.5 GW"),
    (0.000154, "s", "154 µs"),  # a 154 µs call is never "0 s"
    (0.0862, "s", "86.2 ms"),
    (1.5, "s", "1.5 s"),
    (3600, "s", "3,600 s"),
    (0.0009999, "s", "1 ms"),
    (5e-7, "s", "500 ns"),
    (154, "ms", "154 ms"),
    (250, "us", "250 µs"),
    (0.0123, "USD", "$0.0123"),  # cost with its currency
    (0.5, "USD", "$0.50"),
    (1234.567, "USD", "$1,234.57"),
    (0, "USD", "$0.00"),
    (None, "USD", NO_PRICE),  # unpriced: "no price", never 0
    (-0.5, "EUR", "-€0.50"),
    (0.5, "CHF", "0.50 CHF"),
    (1e6, "By/s", "977 KiB/s"),
    (1.5 * 1024**3, "By", "1.5 GiB"),
    (1023.9 * 1024, "By", "1 MiB"),
    (1023, "By", "1,023 B"),
    (0.125, "1", "12.5 %"),
    (12.5, "%", "12.5 %"),
    (21.5, "Cel", "21.5 °C"),
    (12.34, "", "12.3"),
    (0.0123, "", "0.0123"),
    (1234.5, "", "1,235"),
    (-0.0, "", "0"),
    (1e300, "", f"1{TIMES}10³⁰⁰"),  # the ends of the float range: a power of ten, never e+
    (-2.5e-7, "", f"-2.5{TIMES}10⁻⁷"),
    (None, "", MISSING),
    (math.nan, "s", MISSING),
]


@pytest.mark.parametrize(("value", "unit", "text"), FORMAT_CASES)
def test_format_value(value: float | None, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


def test_timestamps_are_written_as_local_times_in_one_format() -> None:
    now = time.time()
    today = time.strftime("%H:%M:%S", time.localtime(now))
    assert format_time(now, CLOCK) == today and format_value(now, "s") == today  # a Unix time in s: a time
    assert format_value(1.796e9, "s") == time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1.796e9))  # another day
    assert format_time(1_000_000.0) == "1970-01-12T13:46:40Z"  # the JSON documents' ISO time
    assert format_ms(0.154) == "154 µs" and format_ms(3200) == "3.2 s" and format_ms(None) == MISSING


@pytest.fixture
def paris(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("paris")
def test_times_follow_the_local_zone_which_is_said_once() -> None:
    winter = 1_796_000_000.0  # 2026-11-30 00:53:20 UTC
    assert format_time(winter, CLOCK) == "2026-11-30 01:53:20"
    assert zone_label(winter) == "CET (UTC+01:00)"
    assert zone_label(1_780_000_000.0) == "CEST (UTC+02:00)"  # May 2026


def test_money_and_plain() -> None:
    assert format_money(None) == NO_PRICE and format_money(0.000123) == "$0.000123"
    assert plain(1_000_000) == "1,000,000" and plain(0.5) == "0.5" and plain(2.5e-7) == f"2.5{TIMES}10⁻⁷"


def labels(values: list[tuple[float, str]]) -> list[str]:
    return [label for _, label in values]


def test_value_ticks_are_round_in_one_unit() -> None:
    axis = value_ticks(0, 1e6, "By/s")  # not 977 / 732 / 488
    assert labels(axis.ticks) == ["0", "250", "500", "750", "1,000"] and axis.caption == "KiB/s"
    assert [t.value for t in axis.ticks][1] == 250 * 1024
    axis = value_ticks(0, 0.0862, "s")
    assert labels(axis.ticks) == ["0", "25", "50", "75", "100"] and axis.caption == "ms"
    assert labels(value_ticks(0, 0.37, "1").ticks) == ["0 %", "10 %", "20 %", "30 %", "40 %"]
    assert labels(value_ticks(0, 0.0123, "USD").ticks) == ["$0", "$0.005", "$0.010", "$0.015"]
    assert labels(value_ticks(0, 89_040, "{token}").ticks) == ["0", "25,000", "50,000", "75,000", "100,000"]
    assert labels(value_ticks(-5, 5).ticks) == ["-5.0", "-2.5", "0", "2.5", "5.0"]
    assert labels(value_ticks(0, 3e12, "{token}").ticks) == ["0", "1 T", "2 T", "3 T"]
    assert labels(value_ticks(0, 1e300).ticks)[-1] == f"1{TIMES}10³⁰⁰"


def label_number(label: str) -> Decimal:
    """The number a tick label writes (``-$84,544.75`` -> -84544.75), prefixes and units left out."""
    return Decimal(re.sub(r"[^0-9.\-]", "", label) or "0")


def test_value_ticks_step_by_1_2_2_5_or_5_and_cover_the_range() -> None:
    rng = random.Random(19)
    for _ in range(2000):
        lo = rng.choice([0.0, rng.uniform(-1e6, 1e6)]) * 10 ** rng.randint(-8, 8)
        hi = lo + max(abs(rng.uniform(1e-3, 1e3)) * 10 ** rng.randint(-6, 9), abs(lo) * 1e-4)  # a visible range
        unit = rng.choice(["", "s", "By", "By/s", "1", "%", "{token}", "USD", "W"])
        ticks = value_ticks(lo, hi, unit).ticks
        tolerance = (hi - lo) * 1e-6  # under a pixel
        assert ticks[0].value <= lo + tolerance and ticks[-1].value >= hi - tolerance, (lo, hi, unit, ticks)
        assert 2 <= len(ticks) <= 8 and not any(EXPONENT.search(t.label) for t in ticks), (lo, hi, unit, ticks)
        assert all(a.value < b.value for a, b in pairwise(ticks))
        if any(TIMES in t.label or ":" in t.label for t in ticks):  # powers of ten, or Unix times: each its own
            continue
        numbers = [label_number(t.label) for t in ticks]
        steps = {b - a for a, b in pairwise(numbers)}  # the labels, read as written, step evenly
        (step,) = steps
        assert step.normalize().as_tuple().digits in ((1,), (2,), (2, 5), (5,)), (lo, hi, unit, ticks)


def test_log_ticks_are_powers_of_ten() -> None:
    bounds = log_bounds([0.00016, 0.086, 1.2])
    assert bounds == (1e-4, 10.0)
    assert labels(log_ticks(*bounds, "s")) == ["100 µs", "1 ms", "10 ms", "100 ms", "1 s", "10 s"]
    assert log_bounds([0.0, -1.0]) is None


@pytest.mark.parametrize(("span", "step"), [(60, 15), (300, 60), (610, 120), (600, 120), (3600, 900), (6 * 3600, 7200)])
def test_time_ticks_fall_on_round_clock_times(span: float, step: int) -> None:
    end = 1_796_000_123.4
    ticks = time_ticks(end - span, end)
    assert 3 <= len(ticks) <= 6
    for a, b in pairwise(ticks):
        assert b.value - a.value == step
    offset = time.localtime(end).tm_gmtoff
    assert all((t.value + offset) % step == 0 for t in ticks)  # aligned to the local clock, not 14:45:16
    pattern = r"\d\d:\d\d:\d\d" if step < 60 else r"(\w{3} \d\d )?\d\d:\d\d"
    assert all(re.fullmatch(pattern, t.label) for t in ticks), labels(ticks)


JS_CASES = [
    *((value, unit) for value, unit, _ in FORMAT_CASES if value is None or math.isfinite(value)),
    *((v, "s") for v in (0.00016, 0.086, 1.2, 42.0, 3600.0, 7.5e-8)),
    *((v, "By/s") for v in (0.0, 512.0, 1e6, 3.3e9, 7.2e13)),
    *((v, "") for v in (0.001234, 0.5, 7.0, 99.96, 1234.56, 987_654.3, 123_456_789.0, 4.2e15, 2.5e22)),
]


def test_the_pages_script_formats_as_the_server_does(browser: Any, tmp_path: Path) -> None:
    """The page script's zgenFormat (templates/_format.html, for hover values) writes what format_value writes."""
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    page_file = tmp_path / "system.html"
    page_file.write_text(render_dashboard("system"))
    page = browser.new_page()
    page.goto(page_file.as_uri())
    now = time.time()
    cases = [*JS_CASES, (now, "s"), (1.796e9, "s")]  # times: today's and another day's
    written = page.evaluate("cases => cases.map(c => window.zgenFormat.value(c[0], c[1]))", cases)
    assert written == [format_value(value, unit) for value, unit in cases]
    assert page.evaluate("ts => window.zgenFormat.time(ts)", now) == format_time(now, CLOCK)
    page.close()
