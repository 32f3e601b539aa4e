"""Bad input, property-based (issue 10): every public function works, or raises the documented error.

Hypothesis feeds arbitrary names, values (floats with NaN and infinities, huge ints, bools, strings, None,
objects), attribute mappings (nested, non-str keys, lists, None values, huge strings), categories, alert rule
definitions, dashboard options and settings to every public function of the README. The property:

* each call either works, or raises ``TypeError``, ``ValueError`` or ``LookupError`` (or a subclass such as
  ``ConfigError`` or ``KeyError``) whose message names the bad value; where the README states the rule
  exactly (``record_metric``, the queries, ``trigger_alert``, the LLM helpers...), an oracle also says
  which calls must be accepted and which must fail;
* the store is not corrupted: every accepted sample is in the history (exactly, where no roll-up applies),
  rejected samples left nothing behind, earlier good data is intact, and the queries and the dashboards
  (``render_dashboard("metrics", format="json")`` parses as strict JSON) still work;
* no exception leaks from a background thread, and nothing is logged at ERROR by ``zgen_otel`` (or the OTel
  SDK) unless the test provokes it on purpose (a custom rule whose condition raises).

The function-scoped fixtures run once per test, not per example: each example builds its own runtime.

The bugs this suite found in the store, the alert manager and the configuration are fixed; the end of the file
keeps a minimal reproduction of each as a regression test.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import math
import numbers
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.trace import SpanKind

import zgen_otel
from zgen_otel import get_runtime
from zgen_otel.alerting import (
    AlertSeverity,
    AlertStatus,
    export_prometheus_rules,
    get_alert_manager,
    trigger_alert,
)
from zgen_otel.dashboards.dashboard import (
    Dashboard,
    get_dashboard_manager,
    render_dashboard,
    render_dashboard_index,
)
from zgen_otel.llm import LLMCall, PriceTable, llm_call, record_llm_usage, set_price_table
from zgen_otel.metrics import (
    get_all_metrics,
    get_latest_value,
    get_metric_average,
    get_metric_history,
    get_metric_stats,
    list_metrics,
    record_metric,
    register_callback,
    unregister_callback,
)
from zgen_otel.performance import (
    get_operation_stats,
    get_performance_stats,
    track,
    track_agent,
    track_async,
    track_context,
    track_tool,
)
from zgen_otel.tasks import add_staleness_rule, last_success, task, task_run
from zgen_otel.testing import ManualClock, reset

DOCUMENTED = (TypeError, ValueError, LookupError)
NOW = 1_700_000_000.0
DAY = 86_400.0
MAX_TIMESTAMP = 253_402_300_799.0  # 9999-12-31T23:59:59Z, the latest timestamp record_metric accepts
INT64 = (-(2**63), 2**63 - 1)
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_./\-]{0,254}")  # the README's metric-name rule
RULE_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,199}")  # alert and rule names
OPERATORS = (">", ">=", "<", "<=", "==", "!=")
BUILTIN_DASHBOARDS = ("system", "performance", "alerts", "metrics", "llm")


def _settings(examples: int) -> settings:
    """Per-test settings; ``ZGEN_OTEL_PROPERTY_SCALE=20`` runs twenty times the examples (a deeper search)."""
    return settings(
        max_examples=max(1, int(examples * float(os.environ.get("ZGEN_OTEL_PROPERTY_SCALE", "1")))),
        deadline=None,
        database=None,  # no .hypothesis/ directory in the repository
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- guards: background threads, the error log, unraisable exceptions ---------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Guard:
    """Collects what must not happen silently during one example: thread exceptions and ERROR logs."""

    thread_errors: list[threading.ExceptHookArgs] = field(default_factory=list)
    unraisable: list[Any] = field(default_factory=list)
    handler: _Records = field(default_factory=_Records)

    def __enter__(self) -> Guard:
        self._old_thread_hook = threading.excepthook
        self._old_unraisable_hook = sys.unraisablehook
        threading.excepthook = self.thread_errors.append
        sys.unraisablehook = self.unraisable.append
        for name in ("zgen_otel", "opentelemetry"):
            logging.getLogger(name).addHandler(self.handler)
        return self

    def __exit__(self, *exc: object) -> None:
        threading.excepthook = self._old_thread_hook
        sys.unraisablehook = self._old_unraisable_hook
        for name in ("zgen_otel", "opentelemetry"):
            logging.getLogger(name).removeHandler(self.handler)

    def check(
        self,
        allowed_log: Callable[[logging.LogRecord], bool] = lambda r: False,
        allowed_thread: Callable[[threading.ExceptHookArgs], bool] = lambda a: False,
    ) -> None:
        """Fail on any thread exception, unraisable exception or ERROR record that is not allowed."""
        errors = [a for a in self.thread_errors if not allowed_thread(a)]
        assert not errors, [f"{a.thread and a.thread.name}: {a.exc_type.__name__}: {a.exc_value}" for a in errors]
        assert not self.unraisable, [f"{u.exc_type.__name__}: {u.exc_value} in {u.object!r}" for u in self.unraisable]
        unexpected = [r for r in self.handler.records if not allowed_log(r)]
        assert not unexpected, [f"{r.name}: {r.getMessage()}" for r in unexpected]


@pytest.fixture(autouse=True)
def _no_leftover_runtime() -> Iterator[None]:
    yield
    reset()


def fresh(clock: Callable[[], float] | None = None, **config: Any) -> ManualClock | None:
    """A new runtime for one example: manual clock, no system monitor, no default rules, no host lock."""
    reset()
    manual = ManualClock(NOW) if clock is None else None
    options: dict[str, Any] = {"system_monitor": False, "default_rules": False, "host_lock": "none", "interval": 3600}
    options.update(config)
    zgen_otel.configure(clock=clock or manual, **options)
    return manual


# -- the documented-error check ------------------------------------------------------------------------------------


def _leaves(value: object, depth: int = 3) -> Iterator[object]:
    """The value, and the keys and items inside it (what an error message may name instead)."""
    yield value
    if depth == 0:
        return
    if isinstance(value, Mapping):
        for k, v in list(value.items())[:20]:
            yield from _leaves(k, depth - 1)
            yield from _leaves(v, depth - 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in list(value)[:20]:
            yield from _leaves(item, depth - 1)


def _mentions(value: object) -> Iterator[str]:
    """Texts that count as naming ``value``: the start of its repr (messages cut long values), or of itself."""
    try:
        text = repr(value)
    except ValueError:  # an int of more than 4300 digits has no repr (nor has a list holding one)
        if isinstance(value, int):
            yield f"<int of {value.bit_length()} bits>"
        return
    yield text[:30]
    if isinstance(value, str) and len(value) >= 4:
        yield value[:30]


def _appears(text: str, message: str) -> bool:
    if len(text) <= 3:  # "1", "a", "[]": only as a word of its own
        return re.search(rf"(?<![\w.]){re.escape(text)}(?![\w.])", message) is not None
    return text in message


def names_one_of(exc: BaseException, suspects: tuple[object, ...]) -> bool:
    """Whether the message of ``exc`` names one of ``suspects`` (or a key or item inside one)."""
    # str(KeyError) is the repr of its message: read the message itself
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str) else str(exc)
    return any(_appears(m, message) for s in suspects for leaf in _leaves(s) for m in _mentions(leaf))


def check_documented(exc: BaseException, call: str, *suspects: object) -> None:
    """``exc`` is a documented error whose message names one of the suspects (the arguments that are bad)."""
    if not isinstance(exc, DOCUMENTED):
        raise AssertionError(f"{call} raised an undocumented {type(exc).__name__}: {exc}") from exc
    if not names_one_of(exc, suspects):
        shown = ", ".join(_short(s) for s in suspects)
        raise AssertionError(f"{call}: {type(exc).__name__}({str(exc)[:300]!r}) names none of: {shown}") from exc


def _short(value: object) -> str:
    try:
        text = repr(value)
    except ValueError:
        text = "<huge int>"
    return text if len(text) < 80 else text[:77] + "..."


@dataclass
class Outcome:
    """What one call did: its result, or the exception it raised."""

    ok: bool
    result: Any = None
    error: BaseException | None = None


def attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    try:
        return Outcome(True, fn(*args, **kwargs))
    except Exception as exc:  # judged by the caller
        return Outcome(False, error=exc)


def expect(
    out: Outcome,
    call: str,
    bad: list[object],
    args: tuple[object, ...],
    *,
    must_work: bool = True,
    also: tuple[object, ...] = (),
) -> bool:
    """Judge one call against the oracle's list of bad arguments; return whether the call worked.

    With bad arguments the call must fail with a documented error naming one of them (or one of ``also``:
    questionable arguments the oracle does not insist on); without, it must work (or, with
    ``must_work=False``, may also fail with a documented error naming one of ``args``).
    """
    if bad:
        assert not out.ok, f"{call} accepted bad input {[_short(b) for b in bad]}"
        assert out.error is not None
        check_documented(out.error, call, *bad, *also)
        return False
    if out.ok:
        return True
    assert out.error is not None
    if must_work:
        raise AssertionError(f"{call} refused good input: {type(out.error).__name__}: {out.error}") from out.error
    check_documented(out.error, call, *args)
    return False


def strict_json(text: str) -> Any:
    """``json.loads`` that refuses NaN and infinities (not JSON)."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


# -- strategies ---------------------------------------------------------------------------------------------------


class Opaque:
    """A user object with an ordinary repr."""

    def __repr__(self) -> str:
        return "<Opaque thing>"


def _giant() -> int:
    """An int of 5001 digits: too long for ``repr`` (Python refuses more than 4300 digits)."""
    return 10**5000


HUGE_INTS = st.one_of(st.sampled_from([2**63, -(2**63) - 1, 2**64 + 1, 10**400, -(10**400)]), st.builds(_giant))
WEIRD = st.sampled_from(
    [object(), Opaque(), Decimal("0.1"), Fraction(1, 3), Fraction(10**400, 3), 1j, b"bytes", bytearray(b"x"),
     Ellipsis, len, frozenset({1}), range(3), AlertSeverity, SpanKind]
)  # fmt: skip
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
EXTREME_FLOATS = st.sampled_from(
    [0.0, -0.0, 5e-324, -5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 1e308, math.nan, math.inf, -math.inf]
)
SPECIAL_TEXT = st.sampled_from(
    ["", " ", "has space", "9lives", "a" * 255, "a" * 256, "x" * 20_000, "<script>alert(1)</script>", "é",
     "\x00", "a\nb", "system.cpu_percent", "none", "INFO", "warning", "json", "html", "{name}", "nan", "inf"]
)  # fmt: skip
TEXT = st.one_of(st.text(max_size=12), SPECIAL_TEXT)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), HUGE_INTS, FLOATS, EXTREME_FLOATS, TEXT, WEIRD
)
ANYTHING = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(TEXT, st.integers(-5, 5), st.none(), st.booleans()), inner, max_size=3),
    ),
    max_leaves=6,
)


KEYS = st.one_of(TEXT, st.integers(-5, 5), st.none(), st.booleans(), FLOATS, HUGE_INTS)  # hashable anything


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any] = ANYTHING) -> st.SearchStrategy[Any]:
    """Good values four times out of five, anything otherwise."""
    return st.one_of(good, good, good, good, bad)


GOOD_NAMES = st.one_of(
    st.sampled_from(["tokens", "latency", "a"]),  # names seen again: the cached fast path of record_metric
    st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True),
    st.from_regex(r"[A-Za-z][A-Za-z0-9_./\-]{0,30}", fullmatch=True),
    st.just("n" * 200),
)
GOOD_ATTR_VALUES = st.one_of(
    st.text(max_size=8),
    st.booleans(),
    st.integers(*INT64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.just("v" * 10_000),
    st.just("<b>&amp;</b>"),
)
GOOD_ATTRIBUTES = st.one_of(
    st.none(),
    st.sampled_from([{"model": "m1"}, {"model": "m2", "tool": "search"}, {}]),
    st.dictionaries(st.sampled_from(["model", "tool", "k", "é", "x" * 300]), GOOD_ATTR_VALUES, max_size=3),
)
BAD_ATTRIBUTES = st.one_of(
    ANYTHING,
    st.dictionaries(KEYS, ANYTHING, min_size=1, max_size=3),
    st.just({"k": {"nested": 1}}),
    st.just({"k": [1, 2]}),
    st.just({"k": None}),
    st.just({1: "v"}),
    st.just({"": "v"}),
    st.just({"k": 2**63}),
)
ATTRIBUTES = mostly(GOOD_ATTRIBUTES, BAD_ATTRIBUTES)
GOOD_VALUES = st.one_of(
    st.integers(-(10**15), 10**15),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
    st.booleans(),
    st.just(Fraction(1, 4)),
)
VALUES = st.one_of(GOOD_VALUES, GOOD_VALUES, FLOATS, EXTREME_FLOATS, ANYTHING)
SEVERITIES = mostly(
    st.one_of(st.sampled_from(list(AlertSeverity)), st.sampled_from(["info", "WARNING", "Error", "critical"]))
)


def valid_timestamp(value: object) -> bool:
    if not isinstance(value, numbers.Real):
        return False
    try:
        ts = float(value)
    except OverflowError:
        return False
    return 0 <= ts <= MAX_TIMESTAMP


# Accepted timestamps stay within 20 days of NOW: a series spanning more than 49.7 days hits the store's
# uint32 offsets' rebase (see test_store_offsets_overflow); test_timestamps_across_the_whole_range
# covers the rest of the range with one series per point.
NEAR_TIMESTAMPS = st.one_of(
    st.none(),
    st.floats(NOW - 3600, NOW + 60),
    st.floats(NOW - 20 * DAY, NOW + 20 * DAY),
    st.integers(int(NOW - 20 * DAY), int(NOW + 20 * DAY)),
)
TIMESTAMPS = mostly(NEAR_TIMESTAMPS, ANYTHING.filter(lambda t: t is None or not valid_timestamp(t)))


# -- oracles ------------------------------------------------------------------------------------------------------


def valid_name(value: object) -> bool:
    return isinstance(value, str) and NAME_RE.fullmatch(value) is not None


def valid_attributes(value: object) -> bool:
    if value is None:
        return True
    if not isinstance(value, Mapping):
        return False
    return all(isinstance(k, str) and k and _attribute_value_ok(v) for k, v in value.items())


def _attribute_value_ok(v: object) -> bool:
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, int):  # bool included
        return INT64[0] <= v <= INT64[1]
    return isinstance(v, str)


def bad_attributes(value: object) -> list[object]:
    """The parts of an attribute mapping that break the rule (the mapping itself, a key or a value)."""
    if valid_attributes(value):
        return []
    if not isinstance(value, Mapping):
        return [value]
    out: list[object] = []
    for k, v in value.items():
        if not (isinstance(k, str) and k):
            out.append(k)
        elif not _attribute_value_ok(v):
            out += [k, v]
    return out


def real_float(value: object) -> float | None:
    """``float(value)`` for a real number in the float range, else None."""
    if not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def record_problems(
    name: object, value: object, category: object, attributes: object, unit: object, timestamp: object
) -> list[object]:
    """The arguments of a ``record_metric`` call that the README says are bad (empty: it must be accepted)."""
    bad: list[object] = []
    if not valid_name(name):
        bad.append(name)
    if category is not None and not valid_name(category):
        bad.append(category)
    if not bad and category is not None and len(f"{category}.{name}") > 255:
        bad.append(f"{category}.{name}")
    if real_float(value) is None:
        bad.append(value)
    bad += bad_attributes(attributes)
    if not (isinstance(unit, str) and unit.isascii() and len(unit) <= 63):  # the OTel unit rule
        bad.append(unit)
    if timestamp is not None and not valid_timestamp(timestamp):
        bad.append(timestamp)
    return bad


def _attr_key(attributes: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    """The attribute set as stored: the documented limits (first 128 items, str values cut to 4,096 characters)."""
    kept = list((attributes or {}).items())[:128]
    return tuple(sorted((k, v[:4096] if isinstance(v, str) else v) for k, v in kept))


@dataclass
class Sample:
    name: str
    value: float
    ts_ms: int
    ts: float
    attributes: tuple[tuple[str, Any], ...]


@dataclass
class Model:
    """What the store must hold: every accepted finite sample, by full metric name."""

    samples: dict[str, list[Sample]] = field(default_factory=dict)
    nonfinite: int = 0
    order: list[Sample] = field(default_factory=list)

    def add(self, sample: Sample) -> None:
        self.samples.setdefault(sample.name, []).append(sample)
        self.order.append(sample)

    def names(self) -> set[str]:
        return set(self.samples)


def record(model: Model, clock: ManualClock, *args: Any, **kwargs: Any) -> None:
    """Call ``record_metric`` and judge it against the oracle; update the model when it is accepted."""
    name, value, category, attributes = args
    unit, timestamp = kwargs["unit"], kwargs["timestamp"]
    bad = record_problems(name, value, category, attributes, unit, timestamp)
    out = attempt(record_metric, *args, **kwargs)
    if not expect(out, "record_metric", bad, (*args, unit, timestamp)):
        return
    number = float(value)
    if not math.isfinite(number):
        model.nonfinite += 1
        return
    ts = clock.now if timestamp is None else float(timestamp)
    full = f"{category}.{name}" if category else name
    model.add(Sample(full, number, int(ts * 1000), ts, _attr_key(attributes)))


def exact_history_expected(samples: list[Sample]) -> bool:
    """No roll-up can have happened: the points span less than the raw window (a day) and are few."""
    stamps = [s.ts_ms for s in samples]
    return max(stamps) - min(stamps) < 0.9 * DAY * 1000 and len(samples) < 1000


def check_store(model: Model, clock: ManualClock, baseline: list[float], callback_log: list[tuple[Any, ...]]) -> None:
    """The store holds exactly what the model says, and every query and dashboard still works."""
    assert [p.value for p in get_metric_history("baseline.good")] == baseline
    assert get_metric_average("baseline.good", window_seconds=3600) == pytest.approx(sum(baseline) / len(baseline))
    assert get_runtime().metrics is not None
    assert get_runtime().metrics.dropped_nonfinite == model.nonfinite
    # Only accepted samples reached callbacks, each once, in order (rejected ones never did).
    got = [(n, v, t, dict(a)) for n, v, t, a in callback_log if n != "baseline.good"]
    want = [(s.name, s.value, s.ts, dict(s.attributes)) for s in model.order]
    assert got == want
    # No phantom series: every listed name has points, and only the recorded ones are listed.
    assert set(list_metrics()) == model.names() | {"baseline.good"}
    for name, samples in model.samples.items():
        points = get_metric_history(name)
        assert sum(p.samples for p in points) == len(samples), name
        assert [p.timestamp for p in points] == sorted(p.timestamp for p in points), name
        if exact_history_expected(samples):
            want_points = sorted((s.ts_ms / 1000, s.value) for s in samples)
            assert sorted((p.timestamp, p.value) for p in points) == want_points, name
            _check_window_queries(name, samples, clock)
        for key in {s.attributes for s in samples}:
            mine = [s for s in samples if s.attributes == key]
            assert sum(p.samples for p in get_metric_history(name, attributes=dict(key))) >= len(mine)
            newest = max(s.ts_ms for s in mine)
            if exact_history_expected(mine) and len({s.attributes for s in samples}) == 1:
                assert get_latest_value(name, attributes=dict(key)) in {s.value for s in mine if s.ts_ms == newest}
    out = attempt(get_all_metrics)
    if out.ok:
        assert sum(i.points for i in out.result) >= sum(len(v) for v in model.samples.values())
    else:
        assert out.error is not None
        raise out.error
    doc = strict_json(render_dashboard("metrics", format="json"))
    listed = {row[0] for panel in doc["panels"] for row in panel["rows"]}
    assert listed == model.names() | {"baseline.good"}
    assert render_dashboard("metrics").startswith("<!DOCTYPE html>")


def _check_window_queries(name: str, samples: list[Sample], clock: ManualClock) -> None:
    for window in (60.0, 3600.0, 30 * DAY, 1e300, 1.7e308):
        lo_ms, hi_ms = int((clock.now - min(window, 1e12)) * 1000), int(clock.now * 1000)
        inside = [s for s in samples if lo_ms <= s.ts_ms <= hi_ms]
        avg = get_metric_average(name, window_seconds=window)
        stats = get_metric_stats(name, window_seconds=window)
        if not inside:
            assert avg is None and stats is None, (name, window)
            continue
        values = [s.value for s in inside]
        assert stats is not None and stats.count == len(values)
        assert (stats.min, stats.max) == (min(values), max(values))
        assert {stats.p50, stats.p95, stats.p99} <= set(values)
        newest = max(s.ts_ms for s in inside)
        assert stats.latest in {s.value for s in inside if s.ts_ms == newest}
        if max(abs(v) for v in values) * len(values) >= 1e307:
            continue  # the sum overflows; the store then averages scaled values: see test_store_mean_overflows
        true_mean = math.fsum(values) / len(values)
        assert avg is not None
        assert abs(avg - true_mean) <= 1e-9 * max(abs(v) for v in values) * len(values) + 1e-300, (avg, true_mean)


UNITS = mostly(st.sampled_from(["", "s", "By", "{token}", "%", "u" * 63]), st.one_of(ANYTHING, SPECIAL_TEXT))
# A few series recorded again and again (the cached fast path), with a bad value, unit or timestamp now and then.
SERIES_POOL = st.sampled_from([("tokens", None, None), ("latency", "agent", {"model": "m1"}), ("a", "llm", {})])
RECORD_CALLS = st.lists(
    st.one_of(
        st.tuples(
            mostly(GOOD_NAMES, st.one_of(ANYTHING, SPECIAL_TEXT)),
            VALUES,
            mostly(st.one_of(st.none(), st.sampled_from(["agent", "llm", "system", "c" * 60])), TEXT),
            ATTRIBUTES,
            UNITS,
            TIMESTAMPS,
        ),
        st.tuples(SERIES_POOL, VALUES, UNITS, TIMESTAMPS).map(lambda t: (t[0][0], t[1], t[0][1], t[0][2], *t[2:])),
    ),
    min_size=1,
    max_size=12,
)


@_settings(300)
@given(calls=RECORD_CALLS, tick=st.floats(0, 10))
def test_record_metric_accepts_exactly_the_documented_input_and_keeps_the_store_whole(
    calls: list[tuple[Any, ...]], tick: float
) -> None:
    with Guard() as guard:
        clock = fresh()
        assert clock is not None
        callback_log: list[tuple[Any, ...]] = []
        register_callback("*", lambda n, v, t, a: callback_log.append((n, v, t, a)))
        baseline = [1.0, 2.5, -3.0]
        for v in baseline:
            record_metric("good", v, "baseline")
        model = Model()
        for name, value, category, attributes, unit, timestamp in calls:
            record(model, clock, name, value, category, attributes, unit=unit, timestamp=timestamp)
            clock.advance(tick)
        check_store(model, clock, baseline, callback_log)
        reset()
    guard.check()


@_settings(60)
@given(
    offsets=st.lists(
        st.one_of(
            st.floats(0, MAX_TIMESTAMP),
            st.integers(0, int(MAX_TIMESTAMP)),
            st.sampled_from([0, 0.0, 1e-3, MAX_TIMESTAMP, int(MAX_TIMESTAMP), True, Fraction(3, 2)]),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_timestamps_across_the_whole_range(offsets: list[Any]) -> None:
    """Every timestamp from the epoch to year 9999 is accepted and read back (one series per point)."""
    with Guard() as guard:
        fresh()
        for i, ts in enumerate(offsets):
            record_metric(f"edge.t{i}", i, timestamp=ts)
        for i, ts in enumerate(offsets):
            (point,) = get_metric_history(f"edge.t{i}")
            assert (point.timestamp, point.value) == (int(float(ts) * 1000) / 1000, i)
            assert get_metric_history(f"edge.t{i}", since=float(ts) - 1, until=float(ts) + 1) == [point]
            assert get_latest_value(f"edge.t{i}") == i
        assert strict_json(render_dashboard("metrics", format="json"))["panels"]
        reset()
    guard.check()


# -- queries and callbacks ---------------------------------------------------------------------------------------


def time_bound_problems(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return [value]
    number = real_float(value)
    return [value] if number is not None and math.isnan(number) else []  # a huge int is beyond every sample


def limit_problems(value: object) -> list[object]:
    if value is None:
        return []
    return [] if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else [value]


def window_problems(value: object) -> list[object]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return [value]
    number = real_float(value)
    return [] if number is not None and math.isfinite(number) and number > 0 else [value]


def _bound_ms(value: Any, default: int) -> int:
    """A since/until bound in milliseconds, as the store compares it (clamped like the query functions)."""
    if value is None:
        return default
    number = real_float(value)
    if number is None:
        number = math.inf if value > 0 else -math.inf
    return int(min(max(number, -1.0), MAX_TIMESTAMP + 1) * 1000)


QUERY_NAMES = mostly(st.sampled_from(["q.a", "q.b", "q.none", "unknown", "has space"]))
QUERY_TIMES = mostly(
    st.one_of(
        st.none(),
        st.floats(NOW - 2 * DAY, NOW + 60),
        st.sampled_from([-math.inf, math.inf, -1e308, 1e308, 0, -5, 10**400, -(10**400), MAX_TIMESTAMP * 2]),
    )
)
QUERY_LIMITS = mostly(st.one_of(st.none(), st.integers(0, 50), st.just(10**400)))
QUERY_WINDOWS = mostly(
    st.one_of(st.floats(1e-3, 1e6), st.sampled_from([1e-300, 1e300, 1e306, 1.7e308, 10**400, 1, 3600]))
)
QUERY_ATTRIBUTES = mostly(
    st.one_of(st.none(), st.sampled_from([{}, {"k": "a"}, {"k": 1}, {"k": True}, {"other": "x"}])), BAD_ATTRIBUTES
)
QUERY_DATA = [
    ("q.a", 1.0, {"k": "a"}, NOW - 10),
    ("q.a", 2.0, {"k": "b"}, NOW - 5),
    ("q.a", 4.0, {"k": "a"}, NOW - 1),
    ("q.b", -1.0, {"k": 1}, NOW - 7200),
    ("q.b", 7.0, {"k": 1}, NOW),
]


def _model_points(name: Any, attributes: Mapping[str, Any] | None) -> list[tuple[float, float]]:
    wanted = (attributes or {}).items()
    return sorted(
        (ts, v)
        for n, v, attrs, ts in QUERY_DATA
        if n == name and all(k in attrs and attrs[k] == want for k, want in wanted)
    )


def _quiet(name: str, value: float, timestamp: float, attributes: Mapping[str, Any]) -> None:
    pass


@_settings(200)
@given(
    name=QUERY_NAMES,
    since=QUERY_TIMES,
    until=QUERY_TIMES,
    limit=QUERY_LIMITS,
    window=QUERY_WINDOWS,
    attributes=QUERY_ATTRIBUTES,
    pattern=mostly(st.sampled_from(["q.*", "q.a", "*", "q.[ab]", "q.b", "[", "x" * 1000])),
    callback=mostly(st.just(_quiet)),
)
def test_queries_and_callbacks_with_arbitrary_arguments(
    name: Any, since: Any, until: Any, limit: Any, window: Any, attributes: Any, pattern: Any, callback: Any
) -> None:
    with Guard() as guard:
        fresh()
        for n, v, attrs, ts in QUERY_DATA:
            record_metric(n, v, attributes=attrs, timestamp=ts)
        name_bad = [] if isinstance(name, str) else [name]
        attr_bad = bad_attributes(attributes)
        args = (name, since, until, limit, attributes)
        bad = name_bad + time_bound_problems(since) + time_bound_problems(until) + limit_problems(limit) + attr_bad
        out = attempt(get_metric_history, *args)
        if expect(out, "get_metric_history", bad, args):
            lo, hi = _bound_ms(since, -(10**18)), _bound_ms(until, 10**18)
            want = [p for p in _model_points(name, attributes) if lo <= int(p[0] * 1000) <= hi]
            if limit is not None:
                want = want[len(want) - min(limit, len(want)) :]
            assert [(p.timestamp, p.value) for p in out.result] == want
        for fn in (get_metric_average, get_metric_stats):
            out = attempt(fn, name, window, attributes)
            if expect(out, fn.__name__, name_bad + window_problems(window) + attr_bad, (name, window, attributes)):
                lo = int((NOW - min(float(window), 1e12)) * 1000)
                inside = [v for ts, v in _model_points(name, attributes) if int(ts * 1000) >= lo]
                if fn is get_metric_average:
                    assert out.result == (pytest.approx(sum(inside) / len(inside)) if inside else None)
                else:
                    assert (out.result.count if out.result else 0) == len(inside)
        out = attempt(get_latest_value, name, attributes)
        if expect(out, "get_latest_value", name_bad + attr_bad, (name, attributes)):
            points = _model_points(name, attributes)
            assert out.result == (points[-1][1] if points else None)
        # Callbacks: a bad pattern or callback is refused at once; a good one hears every later sample.
        pattern_bad = [] if isinstance(pattern, str) and pattern else [pattern]
        heard: list[str] = []

        def listener(n: str, v: float, t: float, a: Mapping[str, Any]) -> None:
            heard.append(n)

        for cb in (callback, listener):
            out = attempt(register_callback, pattern, cb)
            expect(out, "register_callback", pattern_bad + ([] if callable(cb) else [cb]), (pattern, cb))
        record_metric("q.a", 9.0)
        hears = not pattern_bad and fnmatch.fnmatchcase("q.a", pattern)
        assert heard == (["q.a"] if hears else [])
        out = attempt(unregister_callback, pattern, listener)
        if expect(out, "unregister_callback", pattern_bad, (pattern,)):
            assert out.result is True
        record_metric("q.a", 10.0)
        assert heard == (["q.a"] if hears else [])
        assert [p.value for p in get_metric_history("q.a")] == [1.0, 2.0, 4.0, 9.0, 10.0]
        reset()
    # A callable that does not take (name, value, timestamp, attributes) raises when called: logged, by design.
    guard.check(allowed_log=lambda r: "metric callback" in r.getMessage() and callback is not _quiet)


# -- alerting ------------------------------------------------------------------------------------------------------


def severity_ok(value: object) -> bool:
    return isinstance(value, AlertSeverity) or (isinstance(value, str) and value.upper() in AlertSeverity.__members__)


def str_map_ok(value: object) -> bool:
    return value is None or (
        isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    )


def number_problems(value: object, minimum: float | None = None, positive: bool = False) -> list[object]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return [value]
    number = real_float(value)
    if number is None or not math.isfinite(number):
        return [value]
    if minimum is not None and number < minimum:
        return [value]
    if positive and number <= 0:
        return [value]
    return []


def trigger_problems(name: object, description: object, severity: object, category: object, details: object,
                     labels: object) -> list[object]:  # fmt: skip
    bad: list[object] = []
    if not (isinstance(name, str) and RULE_NAME_RE.fullmatch(name)):
        bad.append(name)
    if not isinstance(description, str):
        bad.append(description)
    if not severity_ok(severity):
        bad.append(severity)
    if category is not None and not isinstance(category, str):
        bad.append(category)
    if details is not None and not isinstance(details, Mapping):
        bad.append(details)
    if not str_map_ok(labels):
        bad.append(labels)
    return bad


def rule_common_problems(spec: dict[str, Any]) -> list[object]:
    """What any rule definition must be refused for: name, description, severity, category, durations."""
    bad: list[object] = []
    if not (isinstance(spec["name"], str) and RULE_NAME_RE.fullmatch(spec["name"])):
        bad.append(spec["name"])
    if not isinstance(spec["description"], str):
        bad.append(spec["description"])
    bad += number_problems(spec["duration"], minimum=0)
    bad += number_problems(spec["keep_firing_for"], minimum=0)
    if not severity_ok(spec["severity"]):
        bad.append(spec["severity"])
    if spec["category"] is not None and not isinstance(spec["category"], str):
        bad.append(spec["category"])
    for key in ("labels", "annotations"):
        if isinstance(spec[key], Mapping) and not str_map_ok(spec[key]):
            bad.append(spec[key])
    return bad


def metric_rule_problems(spec: dict[str, Any]) -> list[object]:
    """What an add_metric_rule definition must be refused for (checked in rules.py)."""
    bad = rule_common_problems(spec)
    if not (isinstance(spec["metric_name"], str) and spec["metric_name"]):
        bad.append(spec["metric_name"])
    bad += number_problems(spec["threshold"])
    if not (isinstance(spec["operator"], str) and spec["operator"] in OPERATORS):
        bad.append(spec["operator"])
    if spec["clear_threshold"] is not None:
        bad += number_problems(spec["clear_threshold"])
        if spec["operator"] in ("==", "!="):
            bad.append(spec["operator"])
    if spec["aggregate"] is not None and not (
        isinstance(spec["aggregate"], str) and spec["aggregate"] in ("avg", "max", "min", "increase")
    ):
        bad.append(spec["aggregate"])
    if spec["window"] is not None:
        bad += number_problems(spec["window"], positive=True)
    elif spec["aggregate"] is not None:
        bad.append(spec["aggregate"])
    if isinstance(spec["attributes"], Mapping):
        bad += bad_attributes(spec["attributes"])
    return bad


RULE_NAMES = mostly(st.sampled_from(["r_one", "r_two", "cpu.high:1", "_x", "baseline_rule"]), TEXT)
NUMBER_JUNK = st.one_of(HUGE_INTS, EXTREME_FLOATS, ANYTHING)
RULE_NUMBERS = mostly(st.one_of(st.integers(-100, 100), st.floats(-1e6, 1e6), st.just(0)), NUMBER_JUNK)
MAPPING_OR_NOT = st.one_of(ANYTHING, st.just([("a", "b")]), st.just([1]), st.just("ab"))
# A rule definition: every field good, then zero, one or two fields replaced by junk (with sixteen fields each
# junk one in five times, hardly any definition would be valid, and the accepting side would go untested).
GOOD_RULE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "name": st.sampled_from(["r_one", "r_two", "cpu.high:1", "_x", "baseline_rule"]),
    "description": st.text(max_size=20),
    "metric_name": st.sampled_from(["rule.m", "rule.n", "has space"]),
    "threshold": st.one_of(st.integers(-100, 100), st.floats(-1e6, 1e6)),
    "operator": st.sampled_from(OPERATORS),
    "duration": st.sampled_from([0, 0.0, 5, 60.5]),
    "severity": st.one_of(st.sampled_from(list(AlertSeverity)), st.sampled_from(["info", "WARNING", "Error"])),
    "category": st.one_of(st.none(), st.just("system")),
    "labels": st.one_of(st.none(), st.just({"team": "ops"})),
    "annotations": st.one_of(st.none(), st.just({"runbook": "http://x"})),
    "clear_threshold": st.one_of(st.none(), st.integers(-5, 5)),
    "keep_firing_for": st.sampled_from([0, 10]),
    "aggregate": st.one_of(st.none(), st.sampled_from(["avg", "max", "min", "increase"])),
    "window": st.one_of(st.none(), st.floats(1e-3, 1e308), st.sampled_from([1, 60.0, 1e300, 1e306, 1.7e308])),
    "attributes": st.one_of(st.none(), st.just({"k": "a"}), st.just({"k": 1})),
    "replace": st.booleans(),
}
BAD_RULE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "name": TEXT,
    "operator": st.one_of(st.sampled_from(["=>", "=", "<>", "gt"]), ANYTHING),
    "labels": MAPPING_OR_NOT,
    "annotations": MAPPING_OR_NOT,
    "attributes": st.one_of(MAPPING_OR_NOT, BAD_ATTRIBUTES),
    **{k: NUMBER_JUNK for k in ("threshold", "duration", "clear_threshold", "keep_firing_for", "window")},
}


@st.composite
def rule_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec = {key: draw(strategy) for key, strategy in GOOD_RULE_FIELDS.items()}
    for key in draw(st.lists(st.sampled_from(sorted(GOOD_RULE_FIELDS)), max_size=2, unique=True)):
        spec[key] = draw(BAD_RULE_FIELDS.get(key, ANYTHING))
    return spec


METRIC_RULES = rule_specs()


class _Boom(Exception):
    pass


def _raise() -> None:
    raise _Boom("condition failed")


CONDITIONS = mostly(
    st.sampled_from(
        [
            lambda: True,
            lambda: False,
            lambda: 3.5,
            lambda: 0,
            lambda: math.nan,
            lambda: math.inf,
            lambda: 10**400,
            lambda: (True, 2.0),
            lambda: (True, None),
            lambda: (False, 1),
            lambda: (True, 10**400),
            lambda: (True, "abc"),
            lambda: (True, [1]),
            lambda: "truthy text",
            lambda: None,
            _raise,
        ]
    )
)
ANYTHING_BUT_GIANT = ANYTHING.filter(lambda v: not any(isinstance(x, int) and abs(x) > 10**4000 for x in _leaves(v)))
IDS = st.one_of(st.integers(0, 5), ANYTHING)
ALERT_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("trigger"), RULE_NAMES, mostly(st.text(max_size=30)), SEVERITIES,
                  mostly(st.one_of(st.none(), st.just("tool"))),
                  mostly(st.one_of(st.none(), st.just({"v": 1.5, "nan": math.nan, "obj": Opaque()})),
                         ANYTHING_BUT_GIANT),  # refused: see test_alert_details_with_a_giant_int
                  mostly(st.one_of(st.none(), st.just({"host": "a"})))),
        st.tuples(st.just("metric_rule"), METRIC_RULES),
        st.tuples(st.just("custom_rule"), RULE_NAMES, mostly(st.text(max_size=10)), CONDITIONS, SEVERITIES,
                  mostly(st.sampled_from([0, 1, 5.5]))),
        st.tuples(st.just("sample"), st.sampled_from(["rule.m", "rule.n"]), GOOD_VALUES, GOOD_ATTRIBUTES),
        st.tuples(st.just("ack"), IDS, ANYTHING_BUT_GIANT, ANYTHING_BUT_GIANT),
        st.tuples(st.just("resolve"), IDS),
        st.tuples(st.just("history"), mostly(st.one_of(st.none(), st.sampled_from(["warning", "ERROR"]))),
                  mostly(st.one_of(st.none(), st.just("tool"))),
                  mostly(st.one_of(st.none(), st.sampled_from(["firing", "resolved", AlertStatus.ACKNOWLEDGED]))),
                  mostly(st.one_of(st.none(), st.floats(0, 2 * NOW))), mostly(st.one_of(st.none(), st.integers(0, 3)))),
        st.tuples(st.just("active"), mostly(st.one_of(st.none(), st.just("warning"))), ANYTHING),
        st.tuples(st.just("silence"), mostly(st.one_of(st.just({"alertname": "r_one"}),
                                                       st.just({"alertname": re.compile("r_.*")}))),
                  mostly(st.sampled_from([1, 60.0, 3600])), ANYTHING),
        st.tuples(st.just("rule_admin"), st.sampled_from(["get_rule", "remove_rule", "enable_rule", "disable_rule",
                                                          "remove_silence", "get_alert"]), mostly(RULE_NAMES)),
        st.tuples(st.just("tick"), st.floats(0, 600)),
    ),
    min_size=1,
    max_size=8,
)  # fmt: skip


@dataclass
class AlertWorld:
    """What the alerting test knows: the alerts raised (by id), the rules added, the custom rules among them."""

    clock: ManualClock
    fired: dict[str, Any] = field(default_factory=dict)
    rules: set[str] = field(default_factory=set)
    custom: set[str] = field(default_factory=set)

    def alert_id(self, ident: Any) -> Any:
        return list(self.fired)[ident % len(self.fired)] if isinstance(ident, int) and self.fired else ident


def _alert_trigger(world: AlertWorld, args: list[Any]) -> None:
    out = attempt(trigger_alert, *args)
    if expect(out, "trigger_alert", trigger_problems(*args), tuple(args)):
        alert = out.result
        assert alert.name == args[0] and alert.active  # an active one with that name and labels is updated
        world.fired[alert.id] = alert


def _alert_metric_rule(world: AlertWorld, spec: dict[str, Any]) -> None:
    mgr = get_alert_manager()
    out = attempt(mgr.add_metric_rule, **spec)
    bad = metric_rule_problems(spec)
    questionable = tuple(spec[k] for k in ("labels", "annotations", "attributes") if not isinstance(spec[k], Mapping))
    if bad or out.ok:
        expect(out, "add_metric_rule", bad, tuple(spec.values()), also=questionable)
    else:  # a good definition can still be a duplicate, or have questionable labels
        assert out.error is not None
        check_documented(out.error, "add_metric_rule", spec["name"], *questionable)
    if out.ok:
        rule = out.result
        assert get_alert_manager().get_rule(spec["name"]) is rule and isinstance(rule.severity, AlertSeverity)
        assert math.isfinite(rule.threshold) and rule.duration >= 0 and rule.operator in OPERATORS
        assert rule.to_dict()["name"] == spec["name"]
        world.rules.add(spec["name"])
        world.custom.discard(spec["name"])


def _alert_custom_rule(world: AlertWorld, args: list[Any]) -> None:
    name, description, condition, severity, duration = args
    out = attempt(get_alert_manager().add_rule, name, description, condition, severity, duration=duration)
    bad = [] if isinstance(name, str) and RULE_NAME_RE.fullmatch(name) else [name]
    bad += [] if isinstance(description, str) else [description]
    bad += [] if callable(condition) else [condition]
    bad += [] if severity_ok(severity) else [severity]
    bad += number_problems(duration, minimum=0)
    if bad or out.ok:
        expect(out, "add_rule", bad, tuple(args))
    else:  # a duplicate name
        assert out.error is not None
        check_documented(out.error, "add_rule", name)
    if out.ok:
        world.rules.add(name)
        world.custom.add(name)


def _alert_silence(world: AlertWorld, args: list[Any]) -> None:
    matchers, duration, comment = args
    mgr = get_alert_manager()
    out = attempt(mgr.add_silence, matchers, duration, comment)
    ok_matchers = (
        isinstance(matchers, Mapping)
        and bool(matchers)
        and all(isinstance(k, str) and isinstance(v, (str, re.Pattern)) for k, v in matchers.items())
    )
    number = real_float(duration) if not isinstance(duration, bool) and isinstance(duration, (int, float)) else None
    duration_bad = [] if number is not None and number > 0 else [duration]  # NaN is not > 0 either
    # +inf, taken as "forever" today, is questionable: accepted or refused, both pass
    forever = number == math.inf
    bad = ([] if ok_matchers else [matchers]) + duration_bad
    if expect(out, "add_silence", bad, tuple(args), must_work=not forever):
        assert out.result in mgr.list_silences() or out.result.ends_at <= world.clock.now


def _alert_sample(world: AlertWorld, args: list[Any]) -> None:
    record_metric(args[0], args[1], attributes=args[2])  # good input: must simply work


def _alert_ack_or_resolve(world: AlertWorld, args: list[Any], kind: str) -> None:
    mgr = get_alert_manager()
    alert_id = world.alert_id(args[0])
    if kind == "ack":
        out = attempt(mgr.acknowledge_alert, alert_id, args[1], args[2])
    else:
        out = attempt(mgr.resolve_alert, alert_id)
    notes = [v for v in args[1:] if v is not None and not isinstance(v, str)] if kind == "ack" else []
    if out.ok:
        assert not notes, f"acknowledge_alert accepted a by/note that is not a str: {notes}"
        assert out.result.status is (AlertStatus.ACKNOWLEDGED if kind == "ack" else AlertStatus.RESOLVED)
    else:  # unknown id (KeyError), already resolved, or a by/note that is not a str
        assert out.error is not None
        check_documented(out.error, kind, alert_id, *notes)


def _alert_history(world: AlertWorld, args: list[Any]) -> None:
    severity, category, status, since, limit = args
    out = attempt(get_alert_manager().get_alert_history, severity, category, status, since, None, limit)
    bad = [] if severity is None or severity_ok(severity) else [severity]
    statuses = tuple(s.value for s in AlertStatus)
    bad += [] if status is None or isinstance(status, AlertStatus) or status in statuses else [status]
    bad += limit_problems(limit)
    since_ok = isinstance(since, (int, float)) and not isinstance(since, bool) and real_float(since) is not None
    bad += [] if since is None or since_ok else [since]
    if expect(out, "get_alert_history", bad, tuple(args)):
        starts = [a.starts_at for a in out.result]
        assert starts == sorted(starts, reverse=True)


def _alert_active(world: AlertWorld, args: list[Any]) -> None:
    severity, category = args
    out = attempt(get_alert_manager().get_active_alerts, severity, category)
    bad = [] if severity is None or severity_ok(severity) else [severity]
    if expect(out, "get_active_alerts", bad, tuple(args)):
        assert all(a.active for a in out.result)


def _alert_rule_admin(world: AlertWorld, args: list[Any]) -> None:
    method, name = args
    out = attempt(getattr(get_alert_manager(), method), name)
    if not out.ok:
        assert out.error is not None
        check_documented(out.error, method, name)
    if out.ok and method == "remove_rule" and out.result:
        world.rules.discard(name)


def _alert_tick(world: AlertWorld, args: list[Any]) -> None:
    world.clock.advance(args[0])
    get_alert_manager().evaluate()


ALERT_HANDLERS: dict[str, Callable[[AlertWorld, list[Any]], None]] = {
    "trigger": _alert_trigger,
    "metric_rule": lambda world, args: _alert_metric_rule(world, args[0]),
    "custom_rule": _alert_custom_rule,
    "sample": _alert_sample,
    "ack": lambda world, args: _alert_ack_or_resolve(world, args, "ack"),
    "resolve": lambda world, args: _alert_ack_or_resolve(world, args, "resolve"),
    "history": _alert_history,
    "active": _alert_active,
    "silence": _alert_silence,
    "rule_admin": _alert_rule_admin,
    "tick": _alert_tick,
}


@_settings(150)
@given(ops=ALERT_OPS)
def test_alerting_with_arbitrary_alerts_rules_and_silences(ops: list[tuple[Any, ...]]) -> None:
    with Guard() as guard:
        clock = fresh()
        assert clock is not None
        mgr = get_alert_manager()
        mgr.add_metric_rule("baseline_rule", "good rule", "base.m", threshold=10, operator=">")
        record_metric("base.m", 20.0)
        baseline = trigger_alert("baseline_manual", "a good alert", "error", "base", {"n": 1}, {"env": "test"})
        world = AlertWorld(clock, {baseline.id: baseline}, {"baseline_rule"})
        for kind, *args in ops:
            ALERT_HANDLERS[kind](world, args)
        for alert_id, alert in world.fired.items():
            assert mgr.get_alert(alert_id) is alert
            assert any(a is alert for a in mgr.get_active_alerts()) == alert.active
            json.dumps(alert.to_dict(), default=str)
        assert world.rules <= {r.name for r in mgr.list_rules()}
        history = mgr.get_alert_history()
        assert {a.id for a in history} >= set(world.fired)
        assert any(a.rule == "baseline_rule" for a in history)
        assert [p.value for p in get_metric_history("base.m")] == [20.0]
        doc = strict_json(render_dashboard("alerts", format="json"))
        assert {p["id"] for p in doc["panels"]} == {"summary", "active", "rules", "history"}
        assert render_dashboard("alerts", interactive=True).startswith("<!DOCTYPE html>")
        assert all(json.dumps(n) in export_prometheus_rules() for n in world.rules - world.custom)
        reset()

    def custom_rule_failure(record: logging.LogRecord) -> bool:  # a condition that raises is logged: by design
        return "alert rule" in record.msg and bool(record.args) and record.args[0] in world.custom  # type: ignore

    guard.check(allowed_log=custom_rule_failure)


@_settings(150)
@given(specs=st.lists(METRIC_RULES, min_size=1, max_size=6))
def test_metric_rule_definitions_are_checked_in_full(specs: list[dict[str, Any]]) -> None:
    """Many definitions per example: every bad field is refused, naming it; accepted rules are sane."""
    with Guard() as guard:
        clock = fresh()
        assert clock is not None
        world = AlertWorld(clock)
        for spec in specs:
            _alert_metric_rule(world, spec)
        for value in (-(10**6), 0.0, 3.5, 1e300):  # every accepted rule judges samples without failing
            record_metric("rule.m", value, attributes={"k": "a"})
            record_metric("rule.m", value, attributes={"k": 1})
            record_metric("rule.n", value)
            clock.advance(61)
            get_alert_manager().evaluate()
        assert {r.name for r in get_alert_manager().list_rules()} == world.rules
        assert all(r.errors == 0 for r in get_alert_manager().list_rules())
        strict_json(render_dashboard("alerts", format="json"))
        exported = export_prometheus_rules()
        assert all(json.dumps(name) in exported for name in world.rules)
        reset()
    guard.check()


# -- dashboards ----------------------------------------------------------------------------------------------------


class CustomBoard(Dashboard):
    name, title, description = "custom_props", "<i>Custom</i>", "a custom dashboard with an option"

    def get_data(self, window_seconds: float = 3600, budget: int = 10) -> dict[str, Any]:
        if isinstance(budget, bool) or not isinstance(budget, int):
            raise TypeError(f"budget must be an int; got {_short(budget)}")
        return {"panels": [], "budget": budget % 1000, "ratio": math.inf, "nan": math.nan}


def _populate_for_dashboards(values: list[float]) -> None:
    """Good but extreme data for every built-in dashboard: huge values, mixed attribute types, markup."""
    for value in values:
        record_metric("memory_rss_bytes", value, "process", unit="By")
        record_metric("net_recv", value, "system", unit="By/s", attributes={"interface": "eth<0>"})
        record_metric("load_1m", value, "system")
        record_metric("spark", value, "agent")
    for value in (1.7976931348623157e308, -1.7976931348623157e308, 5e-324, 0.0, 1e308):
        record_metric("cpu_percent", value, "system")
        record_metric("disk_percent", value, "system", attributes={"mountpoint": "/<script>"})
        record_metric("big", value, "agent", attributes={"k": 1})
    record_metric("big", 1.0, "agent", attributes={"k": "text"})  # the same key with a str value
    record_metric("big", 2.0, "agent", attributes={"k": True, "other": 2.5})
    record_metric("markup", 1.0, attributes={"<b>": "</td><script>alert(1)</script>"})
    trigger_alert("weird_alert", "<script>x</script>", "critical", "c<t>", {"nan": math.nan, "o": Opaque()})
    get_alert_manager().add_rule("custom_nan", "nan value", lambda: (True, math.nan))
    get_alert_manager().evaluate()

    @track("tracked <op>")
    def op() -> int:
        return 1

    op()
    record_llm_usage("gpt<x>", 2**63 - 1, 0, provider="p", duration=0.0)
    get_runtime().collect()


DASHBOARD_OPTIONS = st.dictionaries(
    mostly(st.sampled_from(["window_seconds", "history_limit", "interactive", "api_base", "budget"]), TEXT),
    st.one_of(QUERY_WINDOWS, st.integers(-3, 100), ANYTHING),
    max_size=3,
)
INDEX_OPTIONS = st.dictionaries(
    mostly(st.just("link"), TEXT), mostly(st.sampled_from(["{name}.html", "/m/{name}", "", "{x}"])), max_size=2
)


def dashboard_problems(name: Any, fmt: Any, options: dict[str, Any]) -> list[object]:
    bad: list[object] = []
    if not isinstance(name, str) or name not in (*BUILTIN_DASHBOARDS, "custom_props"):
        bad.append(name)
    if fmt not in ("html", "json"):
        bad.append(fmt)
    if "window_seconds" in options:
        bad += window_problems(options["window_seconds"])
    own = {"alerts": {"history_limit"}, "custom_props": {"budget"}}.get(name if isinstance(name, str) else "", set())
    bad += [k for k in options if k not in {"window_seconds", "interactive", "api_base", *own}]
    if not bad and "history_limit" in options:
        bad += limit_problems(options["history_limit"])
    if not bad and "budget" in options:
        budget = options["budget"]
        bad += [] if isinstance(budget, int) and not isinstance(budget, bool) else [budget]
    return bad


@_settings(100)
@given(
    name=mostly(st.sampled_from([*BUILTIN_DASHBOARDS, "custom_props"]), ANYTHING),
    fmt=mostly(st.sampled_from(["html", "json"])),
    options=DASHBOARD_OPTIONS,
    index_options=INDEX_OPTIONS,
    values=st.lists(st.one_of(st.floats(allow_nan=False, allow_infinity=False), EXTREME_FLOATS), max_size=5).map(
        lambda vs: [v for v in vs if math.isfinite(v)]
    ),
)
def test_dashboards_with_arbitrary_names_formats_and_options(
    name: Any, fmt: Any, options: dict[str, Any], index_options: dict[str, Any], values: list[float]
) -> None:
    with Guard() as guard:
        fresh(clock=time.time)
        manager = get_dashboard_manager()
        manager.register_dashboard(CustomBoard(), replace=True)
        _populate_for_dashboards(values)
        out = attempt(render_dashboard, name, fmt, **options)
        if expect(out, "render_dashboard", dashboard_problems(name, fmt, options), (name, fmt, *options.values())):
            if fmt == "json":
                doc = strict_json(out.result)
                assert doc["name"] == name and isinstance(doc["panels"], list)
                assert doc["time_range"]["start"] >= 0
            else:
                assert out.result.startswith("<!DOCTYPE html>") and "<script>alert(1)" not in out.result
        out = attempt(render_dashboard_index, **index_options)
        bad = [k for k in index_options if k not in ("link", "services")]
        if "services" in index_options and not isinstance(index_options["services"], bool):
            bad.append(index_options["services"])
        if "link" in index_options and not isinstance(index_options["link"], str):
            bad.append(index_options["link"])
        if expect(out, "render_dashboard_index", bad, (*index_options, *index_options.values())):
            assert "&lt;i&gt;Custom&lt;/i&gt;" in out.result
        made = attempt(CustomBoard, name)  # a dashboard's own name: a non-empty str (or the class default)
        if expect(made, "Dashboard", [] if not name or _name_problem(name) == [] else [name], (name,)):
            assert made.result.name == (name or "custom_props")
        expect(attempt(manager.register_dashboard, name), "register_dashboard", [name], (name,))
        out = attempt(manager.get_dashboard, name)
        if not out.ok:
            assert isinstance(out.error, KeyError)
            check_documented(out.error, "get_dashboard", name)
        if name not in BUILTIN_DASHBOARDS:  # never take a built-in away from the other tests
            assert attempt(manager.unregister_dashboard, name).result is (name == "custom_props")
        for builtin in BUILTIN_DASHBOARDS:  # whatever happened, every built-in still renders
            strict_json(render_dashboard(builtin, format="json"))
            assert render_dashboard(builtin).startswith("<!DOCTYPE html>")
        reset()
    guard.check(allowed_log=lambda r: False)


# -- LLM calls -----------------------------------------------------------------------------------------------------


def _text_problem(value: object) -> list[object]:
    return [] if value is None or (isinstance(value, str) and value) else [value]


def _token_problem(value: object) -> list[object]:
    if value is None:
        return []
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT64[1]
    return [] if ok else [value]


def llm_problems(model: object, tin: object, tout: object, provider: object, operation: object,
                 response_model: object, duration: object, error_type: object) -> list[object]:  # fmt: skip
    bad = [] if isinstance(model, str) and model else [model]
    bad += _token_problem(tin) + _token_problem(tout) + _text_problem(provider) + _text_problem(response_model)
    bad += _text_problem(error_type)
    bad += [] if isinstance(operation, str) and operation else [operation]
    if duration is not None:
        bad += number_problems(duration, minimum=0)
    return bad


def _usage_tokens(usage: Any) -> tuple[Any, Any]:
    """The token counts ``@llm_call`` reads from a response's ``usage`` (a mapping or an object)."""
    if isinstance(usage, Mapping):
        return usage.get("input_tokens", usage.get("prompt_tokens")), usage.get(
            "output_tokens", usage.get("completion_tokens")
        )
    get = getattr
    return get(usage, "input_tokens", get(usage, "prompt_tokens", None)), get(
        usage, "output_tokens", get(usage, "completion_tokens", None)
    )


TOKENS = mostly(st.one_of(st.none(), st.integers(0, 10**6), st.just(2**63 - 1)))
LLM_TEXT = mostly(st.one_of(st.none(), st.sampled_from(["openai", "m-2026", "TimeoutError"])))
LLM_CALLS = st.lists(
    st.tuples(
        mostly(st.sampled_from(["gpt-small", "gpt-big", "unknown-model"])),
        TOKENS,
        TOKENS,
        LLM_TEXT,
        mostly(st.sampled_from(["chat", "embeddings"])),
        LLM_TEXT,
        mostly(st.one_of(st.none(), st.floats(0, 100), st.integers(0, 10))),
        LLM_TEXT,
    ),
    min_size=1,
    max_size=6,
)
PRICES = st.one_of(
    st.none(),
    st.dictionaries(
        mostly(st.sampled_from(["gpt-small", "gpt-big", "served-model"]), KEYS),
        mostly(st.tuples(st.floats(0, 100), st.floats(0, 100))),
        max_size=3,
    ),
    ANYTHING,
)
USAGES = st.one_of(
    st.none(),
    st.fixed_dictionaries({"input_tokens": TOKENS, "output_tokens": TOKENS}),
    st.fixed_dictionaries({"prompt_tokens": TOKENS, "completion_tokens": TOKENS}),
    st.tuples(TOKENS, TOKENS),
    ANYTHING,
)


@_settings(150)
@given(calls=LLM_CALLS, prices=PRICES, currency=mostly(st.just("USD")), usage=USAGES, wrapped=st.booleans())
def test_llm_helpers_with_arbitrary_models_tokens_and_prices(
    calls: list[tuple[Any, ...]], prices: Any, currency: Any, usage: Any, wrapped: bool
) -> None:
    with Guard() as guard:
        fresh()
        record_llm_usage("baseline-model", 100, 50, provider="p")
        tokens: dict[tuple[str, str], int] = {("baseline-model", "input"): 100, ("baseline-model", "output"): 50}
        table = None
        if prices is not None:
            out = attempt(PriceTable, prices, currency)
            if out.ok:
                table = out.result
            else:
                assert out.error is not None
                check_documented(out.error, "PriceTable", prices, currency)
        expect(attempt(set_price_table, prices), "set_price_table", [] if prices is None else [prices], (prices,))
        set_price_table(table)
        for call in calls:
            out = attempt(record_llm_usage, call[0], call[1], call[2], provider=call[3], operation=call[4],
                          response_model=call[5], duration=call[6], error_type=call[7])  # fmt: skip
            if expect(out, "record_llm_usage", llm_problems(*call), call):
                assert out.result is None or (math.isfinite(out.result) and out.result >= 0)
                # A cost needs a price for the model (or the served model) and at least one token count.
                counted = call[1] is not None or call[2] is not None
                assert (out.result is not None) == (counted and table is not None and (table.knows(call[0]) or (
                    call[5] is not None and table.knows(call[5]))))  # fmt: skip
                for kind, count in (("input", call[1]), ("output", call[2])):
                    if count is not None:
                        tokens[(call[0], kind)] = tokens.get((call[0], kind), 0) + count
        _check_llm_call(calls[0][0], calls[0][3], calls[0][4], usage, wrapped, tokens)
        get_runtime().collect()
        counted: dict[tuple[str, str], float] = {}
        for series in get_runtime().store.series("gen_ai.client.token.usage.sum"):
            key = (str(series.attributes["gen_ai.request.model"]), str(series.attributes["gen_ai.token.type"]))
            counted[key] = counted.get(key, 0.0) + sum(p.value for p in series.points())
        assert counted == {k: pytest.approx(float(v)) for k, v in tokens.items()}
        doc = strict_json(render_dashboard("llm", format="json"))
        assert "baseline-model" in {row[0] for row in doc["panels"][0]["rows"]}
        assert render_dashboard("llm").startswith("<!DOCTYPE html>")
        reset()
    guard.check()


def _check_llm_call(
    model: Any, provider: Any, operation: Any, usage: Any, wrapped: bool, tokens: dict[tuple[str, str], int]
) -> None:
    """``llm_call`` as a decorator (reads the response's usage) or a block (set_usage, response_model)."""
    made = attempt(llm_call, model, provider, operation)
    bad = _text_problem(provider) + ([] if isinstance(model, str) and model else [model])
    bad += [] if isinstance(operation, str) and operation else [operation]
    if not expect(made, "llm_call", bad, (model, provider, operation)):
        return
    pair = isinstance(usage, tuple) and len(usage) == 2
    if wrapped:
        response = {"usage": usage, "model": "served-model"}
        out = attempt(made.result(lambda: response))
        tin, tout = _usage_tokens(usage) if usage is not None else (None, None)
        token_bad = _token_problem(tin) + _token_problem(tout)
    else:
        out = attempt(_with_llm_call, made.result, usage)
        tin, tout = usage if pair else (None, None)
        # the block calls set_usage(*usage) for a pair, and sets response_model = usage otherwise
        token_bad = _token_problem(tin) + _token_problem(tout) if pair else _text_problem(usage)
    if expect(out, "llm_call", token_bad, (usage,)):
        for kind, count in (("input", tin), ("output", tout)):
            if count is not None:
                tokens[(model, kind)] = tokens.get((model, kind), 0) + count


def _with_llm_call(manager: llm_call, usage: Any) -> None:
    with manager as call:
        assert isinstance(call, LLMCall)
        if isinstance(usage, tuple) and len(usage) == 2:
            call.set_usage(*usage)
        else:
            call.response_model = usage


# -- tracking and tasks --------------------------------------------------------------------------------------------


def _name_problem(name: object) -> list[object]:
    return [] if isinstance(name, str) and name.strip() else [name]


def track_problems(name: object, attributes: object, record_args: object, kind: object) -> list[object]:
    bad = [] if name is None else _name_problem(name)
    bad += bad_attributes(attributes)
    if record_args is not None:
        if isinstance(record_args, str) or not hasattr(record_args, "__iter__"):
            bad.append(record_args)
        else:
            bad += [a for a in record_args if not isinstance(a, str) or a not in ("x", "y")]
    if not isinstance(kind, SpanKind):
        bad.append(kind)
    return bad


TRACK_NAMES = mostly(
    st.one_of(st.none(), st.sampled_from(["plan", "tool call", "op.<1>"])),
    st.one_of(ANYTHING, TEXT).filter(lambda n: not callable(n)),  # a callable is the bare @track form
)
RECORD_ARGS = mostly(st.one_of(st.none(), st.just(["x"]), st.just(("x", "y")), st.just([])), ANYTHING)
KINDS = mostly(st.sampled_from(list(SpanKind)))
TRACK_ARGS = st.one_of(ANYTHING, st.builds(_giant), st.just("s" * 20_000))


async def _work(x: Any, y: int = 1) -> tuple[Any, int]:
    return x, y


@_settings(150)
@given(
    name=TRACK_NAMES,
    attributes=mostly(GOOD_ATTRIBUTES, BAD_ATTRIBUTES),
    record_args=RECORD_ARGS,
    kind=KINDS,
    arg=TRACK_ARGS,
    window=mostly(st.one_of(st.none(), QUERY_WINDOWS)),
    flavour=st.sampled_from(["track", "track_async", "context", "agent", "tool"]),
)
def test_tracking_with_arbitrary_names_attributes_and_windows(
    name: Any, attributes: Any, record_args: Any, kind: Any, arg: Any, window: Any, flavour: str
) -> None:
    with Guard() as guard:
        fresh()

        @track("baseline.op")
        def baseline(x: int) -> int:
            return x

        assert baseline(1) == 1
        op_name, called = None, False
        if flavour in ("track", "track_async"):
            bad = track_problems(name, attributes, record_args, kind)
            decorator = attempt(track if flavour == "track" else track_async, name, attributes=attributes,
                                record_args=record_args, kind=kind)  # fmt: skip
            if decorator.ok:  # unknown record_args names show when the function is known
                decorator = attempt(decorator.result, _work)
            if expect(decorator, flavour, bad, (name, attributes, record_args, kind)):
                assert asyncio.run(decorator.result(arg)) == (arg, 1)  # tracking never changes the result
                op_name, called = name or _work.__qualname__, True
        elif flavour == "context":
            bad = _name_problem(name) + track_problems(None, attributes, None, kind)
            ctx = attempt(track_context, name, attributes=attributes, kind=kind)
            if expect(ctx, "track_context", bad, (name, attributes, kind)):
                with ctx.result as span:
                    span.set_attribute("arg", _short(arg))
                op_name, called = name, True
        else:
            bad = _name_problem(name) + bad_attributes(attributes)
            decorator = attempt(track_agent if flavour == "agent" else track_tool, name, attributes=attributes)
            if expect(decorator, flavour, bad, (name, attributes)):
                assert decorator.result(lambda: arg)() is arg
                op_name, called = f"{'invoke_agent' if flavour == 'agent' else 'execute_tool'} {name}", True
        out = attempt(get_performance_stats, window)
        works = expect(out, "get_performance_stats", [] if window is None else window_problems(window), (window,))
        if works and window is None:
            assert out.result["baseline.op"].calls == 1
            assert not called or out.result[op_name].calls == 1
        out = attempt(get_operation_stats, name, None)
        if expect(out, "get_operation_stats", [] if isinstance(name, str) else [name], (name,)):
            assert (out.result is not None) == ((called and name == op_name) or name == "baseline.op")
        strict_json(render_dashboard("performance", format="json"))
        reset()
    guard.check()


TASK_NAMES = mostly(st.sampled_from(["nightly", "sync-2", "a" * 150]), st.one_of(ANYTHING, TEXT))


@_settings(100)
@given(
    name=TASK_NAMES,
    max_age=mostly(st.sampled_from([1, 60.5, 86_400])),
    severity=SEVERITIES,
    replace=st.booleans(),
    fails=st.booleans(),
)
def test_tasks_with_arbitrary_names_ages_and_severities(
    name: Any, max_age: Any, severity: Any, replace: bool, fails: bool
) -> None:
    with Guard() as guard:
        clock = fresh()
        assert clock is not None
        with task_run("baseline_task"):
            pass
        name_bad = _name_problem(name)
        out = attempt(task, name)
        if expect(out, "task", [] if name is None else name_bad, (name,)):

            def job() -> str:
                if fails:
                    raise _Boom("job failed")
                return "done"

            result = attempt(out.result(job))
            assert result.ok is not fails and (result.ok or isinstance(result.error, _Boom))
        out = attempt(last_success, name)
        if expect(out, "last_success", name_bad, (name,)):
            assert out.result == (None if fails else clock.now)
        bad = list(name_bad)
        if not bad and not RULE_NAME_RE.fullmatch(f"task_stale_{name}"):
            bad.append(f"task_stale_{name}")
        bad += number_problems(max_age, positive=True)
        bad += [] if severity_ok(severity) else [severity]
        out = attempt(add_staleness_rule, name, max_age, severity, replace=replace)
        step = float(max_age) * 2 + 1 if not bad else math.inf  # past max_age even where floats are coarse
        if expect(out, "add_staleness_rule", bad, (name, max_age, severity)) and math.isfinite(step):
            clock.advance(step)
            get_alert_manager().evaluate()
            assert f"task_stale_{name}" in {a.name for a in get_alert_manager().get_active_alerts()}
        assert last_success("baseline_task") == NOW
        reset()
    guard.check()


# -- configuration -------------------------------------------------------------------------------------------------

CONFIG_KEYS = st.sampled_from(
    ["interval", "retention_days", "max_series", "max_raw_points", "enabled", "alerting_enabled",
     "alerting_notifications", "service_name", "store_flush_interval", "export_interval", "default_rules",
     "set_global_providers", "otlp_protocol", "otlp_headers", "host_lock", "unknown_setting"]
)  # fmt: skip
GOOD_CONFIG = {
    "interval": st.sampled_from([0.5, 60, "30", 3600.0]),
    "retention_days": st.sampled_from([1, 0.5, "30"]),
    "max_series": st.sampled_from([1, 100, "10"]),
    "max_raw_points": st.sampled_from([16, 4096, "64"]),
    "enabled": st.sampled_from([True, False, "yes", "off"]),
    "service_name": st.sampled_from(["svc", "my agent"]),
    "otlp_protocol": st.sampled_from(["grpc", "http/protobuf"]),
    "otlp_headers": st.sampled_from([{"api-key": "secret"}, "a=b,c=d"]),
    "host_lock": st.just("none"),
}


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in draw(st.lists(CONFIG_KEYS, max_size=3, unique=True)):
        # host_lock: "none" or no str at all, so that no lock file is written anywhere
        bad = ANYTHING.filter(lambda v, key=key: not (key == "host_lock" and isinstance(v, str)))
        out[key] = draw(mostly(GOOD_CONFIG.get(key, st.booleans()), bad))
    return out


def _beyond_timeouts(args: threading.ExceptHookArgs) -> bool:
    """The reader's thread dies on an interval past ``threading.TIMEOUT_MAX`` (a known config bug)."""
    return isinstance(args.exc_value, OverflowError) and "timestamp out of range" in str(args.exc_value)


@_settings(100)
@given(config=configs())
def test_configure_refuses_bad_settings_and_keeps_the_running_runtime(config: dict[str, Any]) -> None:
    interval_too_long = False
    with Guard() as guard:
        fresh()
        record_metric("kept", 1.0)
        before = get_runtime()
        out = attempt(zgen_otel.configure, **{"system_monitor": False, "host_lock": "none", **config})
        if out.ok:
            rt = get_runtime()
            assert rt is not before and rt.settings == out.result
            interval_too_long = rt.settings.interval > threading.TIMEOUT_MAX
            record_metric("after", 2.0)
            assert [p.value for p in get_metric_history("after")] == ([2.0] if rt.enabled else [])
            assert strict_json(render_dashboard("metrics", format="json"))["name"] == "metrics"
        else:
            assert isinstance(out.error, zgen_otel.ConfigError), f"{type(out.error).__name__}: {out.error}"
            assert names_one_of(out.error, tuple(config)), str(out.error)
            redacted = "otlp_headers=<redacted>" in str(out.error)
            unknown = "unknown setting" in str(out.error)
            assert redacted or unknown or names_one_of(out.error, tuple(config.values())), str(out.error)
            assert get_runtime() is before
            assert [p.value for p in get_metric_history("kept")] == [1.0]
        reset()
    guard.check(allowed_thread=lambda a: interval_too_long and _beyond_timeouts(a))


# -- regressions: bugs this suite found in the store, the alert manager and the configuration ----------------------


def test_store_offsets_overflow() -> None:
    """A series whose newest point is more than 2**32 ms (49.7 days) after its oldest raw point."""
    fresh()
    record_metric("backfilled", 1.0, timestamp=NOW - 60 * DAY)
    record_metric("backfilled", 2.0, timestamp=NOW)  # was: OverflowError: unsigned int is greater than maximum
    assert [(p.timestamp, p.value) for p in get_metric_history("backfilled")][-1] == (NOW, 2.0)
    assert get_metric_stats("backfilled", window_seconds=90 * DAY).count == 2  # type: ignore[union-attr]


def test_store_info_sorts_mixed_attribute_types() -> None:
    fresh()
    record_metric("mixed", 1.0, attributes={"k": 1})
    record_metric("mixed", 2.0, attributes={"k": "a"})
    assert len(get_all_metrics()) == 2  # TypeError: '<' not supported between instances of 'str' and 'int'


def test_store_mean_overflows() -> None:
    fresh()
    record_metric("huge", 1.7e308)
    record_metric("huge", 1.7e308)
    assert get_metric_average("huge") == 1.7e308  # inf


def test_add_silence_with_a_list() -> None:
    fresh()
    with pytest.raises(ValueError, match=re.escape("[('alertname', 'x')]")):
        get_alert_manager().add_silence([("alertname", "x")], 60)  # type: ignore[arg-type]


def test_add_silence_with_a_huge_duration() -> None:
    fresh()
    with pytest.raises(ValueError, match="duration"):
        get_alert_manager().add_silence({"alertname": "x"}, 10**400)


def test_add_metric_rule_with_labels_that_are_not_a_mapping() -> None:
    fresh()
    with pytest.raises(TypeError, match=re.escape("[1]")):
        get_alert_manager().add_metric_rule("r", "d", "m", 1, labels=[1])  # type: ignore[arg-type]


def test_get_rule_with_an_unhashable_name() -> None:
    fresh()
    with pytest.raises(KeyError, match=re.escape("['r']")):
        get_alert_manager().get_rule(["r"])  # type: ignore[arg-type]


def test_alert_history_with_a_text_bound() -> None:
    fresh()
    trigger_alert("a", "d")
    with pytest.raises((TypeError, ValueError), match="'yesterday'"):
        get_alert_manager().get_alert_history(since="yesterday")  # type: ignore[arg-type]


def test_error_message_with_a_giant_int() -> None:
    fresh()
    with pytest.raises(TypeError, match="details"):
        trigger_alert("a", "d", details=_giant())  # type: ignore[arg-type]


def test_alert_details_with_a_giant_int() -> None:
    """Details that JSON cannot write (the alert's JSON form: API, history file) are refused up front."""
    fresh()
    with pytest.raises(ValueError, match="details must be JSON-serialisable"):
        trigger_alert("a", "d", details={"n": _giant()})


def test_interval_beyond_the_timeout_range() -> None:
    with Guard() as guard:
        outcome = attempt(fresh, interval=1e10)
        reset()
    assert not outcome.ok or not guard.thread_errors, [str(a.exc_value) for a in guard.thread_errors]
