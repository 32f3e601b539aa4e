"""Rule evaluation: each (rule, series) moves inactive → pending → firing → inactive, opening and closing alerts.

Metric rules are indexed by metric name and evaluated on the thread that records a sample of that metric
(only the rules watching it run); `RuleEvaluator.tick` handles time (``for`` durations,
``keep_firing_for``, metrics that stop reporting) and runs the custom conditions, at each tick of the
alert manager's background `Ticker`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from zgen_otel.alerting.conditions import Outcome
from zgen_otel.alerting.lifecycle import AlertLifecycle, AlertLock
from zgen_otel.alerting.model import Alert
from zgen_otel.alerting.rules import CustomRule, MetricRule, RuleState, SeriesState
from zgen_otel.store import MetricStore, Series

__all__ = ["RuleEvaluator", "Ticker"]

_log = logging.getLogger(__name__)


class RuleEvaluator:
    """Runs the rules of one alert manager and moves their states along; the alerts go through ``alerts``.

    Args:
        store: the metric store whose samples metric rules judge.
        alerts: opens and closes the alerts the rules fire and resolve.
        lock: the alert manager's lock, which guards the rule states and the alerts.
        enabled: evaluate samples as they arrive (``ALERTING_ENABLED``); `tick` is the caller's to skip.
    """

    def __init__(self, store: MetricStore, alerts: AlertLifecycle, lock: AlertLock, *, enabled: bool) -> None:
        self.store = store
        self.alerts = alerts
        self.enabled = enabled
        self.errors = 0  # rule failures, all rules together
        self._lock = lock
        self._by_metric: dict[str, list[MetricRule]] = {}

    def watch(self, rule: MetricRule) -> None:
        """Judge the samples of ``rule.metric_name`` with ``rule`` from now on (call under the lock)."""
        watchers = self._by_metric.setdefault(rule.metric_name, [])
        if not watchers:
            self.store.watch(rule.metric_name, self.on_sample)
        watchers.append(rule)

    def unwatch(self, rule: MetricRule) -> None:
        """Stop judging samples with ``rule`` (call under the lock)."""
        watchers = self._by_metric[rule.metric_name]
        watchers.remove(rule)
        if not watchers:
            del self._by_metric[rule.metric_name]
            self.store.unwatch(rule.metric_name, self.on_sample)

    def unwatch_all(self) -> None:
        """Stop judging samples with any rule (at shutdown; call under the lock)."""
        for name in list(self._by_metric):
            self.store.unwatch(name, self.on_sample)
        self._by_metric.clear()

    def on_sample(self, series: Series, ts: float, value: float) -> None:
        """A sample of a watched metric arrived (on the recording thread): run the rules watching it."""
        if not self.enabled:
            return
        for rule in self._by_metric.get(series.name, ()):
            try:
                if rule.enabled:
                    self._observe(rule, series, ts, value)
            except Exception as exc:  # a rule bug must never reach the recording code
                self._rule_error(rule, exc)

    def reset(self, rule: MetricRule | CustomRule, now: float) -> None:
        """Resolve every alert of ``rule`` and forget its states (call under the lock)."""
        for state in list(rule.states.values()):
            self._end(state, now)
        rule.states.clear()

    def tick(
        self, rules: Iterable[MetricRule | CustomRule], now: float, stale_before: float, outcomes: dict[int, Outcome]
    ) -> None:
        """Time-based transitions, and the custom conditions' outcomes, of the enabled ``rules`` (under the lock).

        Args:
            rules: the rules to run.
            now: the time of this tick (Unix seconds).
            stale_before: a series with no sample since this time no longer holds its rule.
            outcomes: by ``id(rule)``, what each custom condition gave this tick (run off the lock by
                `ConditionRunner`); a custom rule with none is left as is.
        """
        for rule in rules:
            if not rule.enabled:
                continue
            try:
                if isinstance(rule, CustomRule):
                    outcome = outcomes.get(id(rule))
                    if outcome is not None:
                        self._tick_custom(rule, now, outcome)
                elif rule.states:  # a metric rule with no pending or firing series: time changes nothing
                    self._tick_metric(rule, now, stale_before)
            except Exception as exc:
                self._rule_error(rule, exc)

    def _observe(self, rule: MetricRule, series: Series, ts: float, value: float) -> None:
        if rule.attributes and any(series.attributes.get(k) != v for k, v in rule.attributes.items()):
            return
        if rule.aggregate == "increase":
            first = self.store.history(series.name, series.attributes, since=ts - (rule.window or 0.0), limit=None)
            value = value - first[0].value if first else 0.0
        elif rule.aggregate is not None:
            stats = self.store.window(series.name, rule.window or 0.0, series.attributes, now=ts)
            if stats is None:
                return
            value = {"avg": stats.avg, "max": stats.max, "min": stats.min}[rule.aggregate]
        rule.last_value = value
        state = rule.states.get(series)
        if state is None and not rule.test(value, rule.threshold):
            return  # the common case: nothing going on
        with self._lock:
            state = rule.states.get(series)
            if state is None:
                labels = {k: str(v) for k, v in series.attributes.items()}
                state = rule.states[series] = SeriesState(RuleState.PENDING, since=ts, labels=labels)
            state.value, state.last_sample = value, ts
            self._advance(rule, state, rule.holds(value, state.state is RuleState.FIRING), ts, series)

    def _advance(self, rule: MetricRule | CustomRule, state: SeriesState, holds: bool, now: float, key: Any) -> None:
        """Move one (rule, series) along: pending → firing → resolved."""
        if state.state is RuleState.PENDING:
            if not holds:
                rule.states.pop(key, None)
            elif now - state.since >= rule.duration:
                self._fire(rule, state, now)
        elif state.state is RuleState.FIRING:
            alert = self.alerts.active.get(state.alert_id or "")
            if alert is None:  # resolved by hand: start over
                rule.states.pop(key, None)
                return
            if holds:
                state.cleared_since = None
                alert.value, alert.last_seen = state.value, now
            else:
                if state.cleared_since is None:
                    state.cleared_since = now
                if now - state.cleared_since >= rule.keep_firing_for:
                    self._end(state, now)
                    rule.states.pop(key, None)

    def _fire(self, rule: MetricRule | CustomRule, state: SeriesState, now: float) -> None:
        details: dict[str, Any] = {"value": state.value}
        if isinstance(rule, MetricRule):
            details.update(metric=rule.metric_name, threshold=rule.threshold, operator=rule.operator)
        labels = {**rule.labels, **state.labels}
        alert = self.alerts.find(rule.name, labels)
        if alert is not None:  # restored from an earlier run, or fired by hand
            alert.occurrences += 1
            alert.last_seen, alert.value = now, state.value
        else:
            alert = Alert(rule.name, rule.description, rule.severity, rule.category, labels, dict(rule.annotations),
                          details, now, last_seen=now, generator_url=rule.generator_url)  # fmt: skip
            self.alerts.open(alert, now)
            alert.rule, alert.value = rule.name, state.value
        state.state, state.since, state.alert_id = RuleState.FIRING, now, alert.id
        self.alerts.history.save(alert)

    def _end(self, state: SeriesState, now: float) -> None:
        alert = self.alerts.active.get(state.alert_id or "")
        if state.state is RuleState.FIRING and alert is not None:
            self.alerts.close(alert, now)

    def _rule_error(self, rule: MetricRule | CustomRule, exc: Exception) -> None:
        rule.errors += 1
        rule.last_error = f"{type(exc).__name__}: {exc}"
        self.errors += 1
        if rule.errors == 1 or rule.errors % 100 == 0:
            _log.error("zgen_otel: alert rule %r failed (%d times): %s", rule.name, rule.errors, rule.last_error)

    def _tick_metric(self, rule: MetricRule, now: float, stale_before: float) -> None:
        for key, state in list(rule.states.items()):
            if state.last_sample < stale_before:  # the metric stopped reporting
                self._advance(rule, state, False, now, key)
            elif state.state is RuleState.PENDING and now - state.since < rule.duration:
                continue  # its last sample held the condition (or it would be gone); only time moves it, not yet
            elif state.value is not None:
                self._advance(rule, state, rule.holds(state.value, state.state is RuleState.FIRING), now, key)

    def _tick_custom(self, rule: CustomRule, now: float, outcome: Outcome) -> None:
        if isinstance(outcome, Exception):
            raise outcome
        holds, value = outcome
        rule.last_value = value
        state = rule.states.get(None)
        if state is None:
            if not holds:
                return
            state = rule.states[None] = SeriesState(RuleState.PENDING, since=now)
        state.value, state.last_sample = value, now
        self._advance(rule, state, holds, now, None)


class Ticker:
    """The background evaluator: calls ``tick`` every ``interval()`` seconds on a daemon thread until stopped.

    Args:
        tick: one evaluation (an exception is logged; the next tick comes all the same).
        interval: seconds to the next tick, read before each wait (so a new setting applies at once).
    """

    def __init__(self, tick: Callable[[], None], interval: Callable[[], float]) -> None:
        self._tick = tick
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start ticking (nothing when already started)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="zgen-otel-alerting", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval()):
            try:
                self._tick()
            except Exception:
                _log.exception("zgen_otel: alert evaluation tick failed")

    def after_fork_in_child(self) -> None:
        """In a forked child (where the parent's thread does not exist): start a thread of its own if running."""
        if self._thread is not None and not self._stop.is_set():
            self._stop = threading.Event()
            self._thread = None
            self.start()

    def stop(self, timeout: float) -> None:
        """Stop ticking; wait up to ``timeout`` seconds for a tick in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
