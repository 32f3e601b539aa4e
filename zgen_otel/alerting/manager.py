"""The alert manager: rules, their evaluation, the alert lifecycle, history, silences and notifications.

Metric rules are indexed by metric name and evaluated on the thread that records a sample of that metric
(only the rules watching it run); a periodic tick handles time (``for`` durations, ``keep_firing_for``,
metrics that stop reporting), custom conditions, repeated notifications and history retention.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from zgen_otel._fork import abandon
from zgen_otel._util import RateLimitedLogger, safe_repr
from zgen_otel._validate import check_count, check_text, positive_seconds
from zgen_otel.alerting.model import Alert, AlertSeverity, AlertStatus, fingerprint
from zgen_otel.alerting.notifiers import Dispatcher, Notification, Notifier
from zgen_otel.alerting.rules import (
    CustomRule,
    MetricRule,
    RuleState,
    SeriesState,
    check_url,
    str_map,
    validate_name,
)
from zgen_otel.store import MetricStore, Series

__all__ = ["AlertManager", "Silence"]

_log = logging.getLogger(__name__)
_warn = RateLimitedLogger(_log)
_events = logging.getLogger("zgen_otel.alerts")


@dataclass
class Silence:
    """Mutes notifications (not state) of alerts whose labels match every matcher, until ``ends_at``.

    A matcher value is an exact label value, or a compiled ``re.Pattern`` matched against the whole value.
    """

    id: str
    matchers: dict[str, str | re.Pattern[str]]
    starts_at: float
    ends_at: float
    comment: str = ""
    created_by: str | None = None

    def matches(self, labels: Mapping[str, str], now: float) -> bool:
        """Whether this silence is active at ``now`` and matches ``labels``."""
        if not self.starts_at <= now < self.ends_at:
            return False
        for key, want in self.matchers.items():
            have = labels.get(key)
            if have is None:
                return False
            if isinstance(want, re.Pattern) and not want.fullmatch(have):
                return False
            if isinstance(want, str) and have != want:
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        matchers = {k: (v.pattern if isinstance(v, re.Pattern) else v) for k, v in self.matchers.items()}
        return {
            "id": self.id,
            "matchers": matchers,
            "startsAt": self.starts_at,
            "endsAt": self.ends_at,
            "comment": self.comment,
            "createdBy": self.created_by,
        }


_ACTIVE = "json_extract(body, '$.status') IN ('firing', 'acknowledged')"


class _History:
    """Alerts oldest first, bounded by count and age; mirrored in SQLite when a path is given.

    The file holds the same alerts, plus any active alert pushed out of the count (it must survive a restart).
    """

    def __init__(self, limit: int, path: str | None) -> None:
        self.items: deque[Alert] = deque(maxlen=limit)
        self._db: sqlite3.Connection | None = None
        if path:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS alerts (id TEXT PRIMARY KEY, starts_at REAL, body TEXT)")

    def load(self) -> list[Alert]:
        """Alerts saved by an earlier run, oldest first."""
        if self._db is None:
            return []
        alerts = []
        for (body,) in self._db.execute("SELECT body FROM alerts ORDER BY starts_at"):
            data = json.loads(body)
            data["severity"] = AlertSeverity(data["severity"])
            data["status"] = AlertStatus(data["status"])
            alerts.append(Alert(**data))
        self.items.extend(alerts)
        self._trim_file()
        return alerts

    def add(self, alert: Alert) -> None:
        evicted = self.items[0] if len(self.items) == self.items.maxlen else None
        self.items.append(alert)
        self.save(alert)
        if evicted is not None and not evicted.active:
            self._write("DELETE FROM alerts WHERE id = ?", (evicted.id,))

    def resize(self, limit: int) -> None:
        """Keep at most ``limit`` alerts (the newest), in memory and in the file."""
        self.items = deque(self.items, maxlen=limit)
        self._trim_file()

    def _trim_file(self) -> None:
        """Drop the file's rows past the count limit, oldest first, except active alerts."""
        newest_first = "SELECT id FROM alerts ORDER BY starts_at DESC LIMIT -1 OFFSET ?"
        self._write(f"DELETE FROM alerts WHERE NOT {_ACTIVE} AND id IN ({newest_first})", (self.items.maxlen,))

    def save(self, alert: Alert) -> None:
        if self._db is None:
            return
        data = {k: v for k, v in vars(alert).items()}
        data["severity"] = int(alert.severity)
        data["status"] = alert.status.value
        body = json.dumps(data, default=str)
        self._write("INSERT OR REPLACE INTO alerts (id, starts_at, body) VALUES (?, ?, ?)",
                    (alert.id, alert.starts_at, body))  # fmt: skip

    def prune(self, cutoff: float) -> None:
        while self.items and self.items[0].starts_at < cutoff and not self.items[0].active:
            self.items.popleft()
        self._write(f"DELETE FROM alerts WHERE starts_at < ? AND NOT {_ACTIVE}", (cutoff,))

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        """Mirror a change to the file; a busy or failing file costs the mirror, never the alert state."""
        if self._db is None:
            return
        try:
            self._db.execute(sql, params)
        except sqlite3.Error as exc:
            _warn.warning("history-write", "zgen_otel: writing alert history to its file failed (%s); "
                          "the history stays in memory and the alert is written on its next change", exc)  # fmt: skip

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def detach(self) -> None:
        """In a forked child: stop mirroring to the parent's file (kept in memory only from now on)."""
        if self._db is not None:
            abandon(self._db)
            self._db = None


class AlertManager:
    """Process-wide alerting: rules, alerts, history, silences, notification channels.

    Args:
        store: the metric store metric rules read.
        clock: the time source (``time.time``).
        evaluate: run rules (``ALERTING_ENABLED``); manual ``trigger_alert`` works either way.
        notify: send notifications (``ALERTING_NOTIFICATIONS``); state and history are kept either way.
        evaluation_interval: seconds between ticks of the background evaluator.
        stale_after: a series with no sample for this long no longer satisfies its rule.
        repeat_interval: a firing, unacknowledged alert is notified again after this many seconds.
        history_limit: alerts kept in the history; ``retention_seconds`` bounds their age.
        history_path: SQLite file for the history (the store's file), or None.
        meter: where the ``zgen.alerts`` gauge goes (like Prometheus' ``ALERTS``), or None.
        group_wait, max_queue, max_retries, backoff: notification delivery (see :meth:`configure`).
        record: keep and send alerts; False (``MONITORING_ENABLED=false``) makes ``trigger_alert`` return the
            checked alert without storing, logging or sending it.
    """

    def __init__(
        self,
        store: MetricStore,
        *,
        clock: Callable[[], float] = time.time,
        evaluate: bool = True,
        notify: bool = True,
        evaluation_interval: float = 10.0,
        stale_after: float = 300.0,
        repeat_interval: float = 4 * 3600.0,
        history_limit: int = 10_000,
        retention_seconds: float = 30 * 86_400.0,
        history_path: str | None = None,
        meter: Meter | None = None,
        group_wait: float = 1.0,
        max_queue: int = 1000,
        max_retries: int = 3,
        backoff: float = 0.5,
        record: bool = True,
    ) -> None:
        self.store = store
        self.clock = clock
        self.recording = record  # False with MONITORING_ENABLED=false: trigger_alert stores and sends nothing
        self.evaluating = evaluate
        self.notifying = notify
        self.evaluation_interval = positive_seconds("evaluation_interval", evaluation_interval)
        self.stale_after = positive_seconds("stale_after", stale_after)
        self.repeat_interval = positive_seconds("repeat_interval", repeat_interval)
        self.retention_seconds = retention_seconds
        self._lock = threading.RLock()
        self._rules: dict[str, MetricRule | CustomRule] = {}
        self._by_metric: dict[str, list[MetricRule]] = {}
        self._active: dict[str, Alert] = {}
        self._by_fingerprint: dict[str, Alert] = {}
        self._notified: dict[str, float] = {}
        self._silences: dict[str, Silence] = {}
        self._history = _History(check_count("history_limit", history_limit, minimum=1), history_path)
        for alert in self._history.load():
            if alert.active:
                self._active[alert.id] = alert
                self._by_fingerprint[alert.fingerprint] = alert
        self.dispatcher = Dispatcher(
            group_wait=group_wait, max_queue=max_queue, max_retries=max_retries, backoff=backoff
        )
        self.evaluation_errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if meter is not None:
            meter.create_observable_gauge(
                "zgen.alerts",
                callbacks=[self._observe_alerts],
                unit="{alert}",
                description="Active alerts (1 per alert) by name, severity and state, like Prometheus' ALERTS.",
            )

    def configure(
        self,
        *,
        repeat_interval: float | None = None,
        group_wait: float | None = None,
        max_queue: int | None = None,
        max_retries: int | None = None,
        backoff: float | None = None,
        history_limit: int | None = None,
        stale_after: float | None = None,
    ) -> None:
        """Change delivery and history settings of a running manager; None keeps a setting as it is.

        Args:
            repeat_interval: seconds before a firing, unacknowledged alert is notified again (> 0; 4 h).
            group_wait: seconds a burst is collected into one batch per channel (>= 0; 1 s).
            max_queue: the size of each notification queue (>= 1; 1,000); overflow is dropped, counted, logged.
            max_retries: attempts after a failed delivery (>= 0; 3).
            backoff: seconds before the first retry, doubled for each next one (>= 0; 0.5 s).
            history_limit: alerts kept in the history, in memory and in its file; older ones go (>= 1; 10,000).
            stale_after: seconds without a sample after which a series no longer holds its rule (> 0).

        Raises:
            ValueError: a value out of range or of the wrong type, naming it; nothing is changed then.
        """
        repeat = (
            self.repeat_interval if repeat_interval is None else positive_seconds("repeat_interval", repeat_interval)
        )
        limit = None if history_limit is None else check_count("history_limit", history_limit, minimum=1)
        stale = self.stale_after if stale_after is None else positive_seconds("stale_after", stale_after)
        self.dispatcher.configure(group_wait=group_wait, max_queue=max_queue, max_retries=max_retries, backoff=backoff)
        with self._lock:
            self.repeat_interval, self.stale_after = repeat, stale
            if limit is not None:
                self._history.resize(limit)

    # -- rules --------------------------------------------------------------------------------------
    def add_metric_rule(
        self,
        name: str,
        description: str,
        metric_name: str,
        threshold: float,
        operator: str = ">",
        duration: float = 0.0,
        severity: AlertSeverity | str = AlertSeverity.WARNING,
        category: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        clear_threshold: float | None = None,
        keep_firing_for: float = 0.0,
        aggregate: str | None = None,
        window: float | None = None,
        attributes: Mapping[str, Any] | None = None,
        generator_url: str = "",
        replace: bool = False,
    ) -> MetricRule:
        """Alert when ``metric_name`` compares true with ``threshold`` for ``duration`` seconds (see README).

        Raises:
            ValueError, TypeError: a bad definition (unknown operator, negative duration, unknown severity,
                a bad name, a duplicate name without ``replace=True``...), naming the value and what is allowed.
        """
        rule = MetricRule(
            name=name,
            description=description,
            severity=severity,  # type: ignore[arg-type]  # validated in __post_init__
            category=category,
            duration=duration,
            labels=_mapping("labels", labels),
            annotations=_mapping("annotations", annotations),
            keep_firing_for=keep_firing_for,
            metric_name=metric_name,
            threshold=threshold,
            operator=operator,
            clear_threshold=clear_threshold,
            aggregate=aggregate,
            window=window,
            attributes=_mapping("attributes", attributes),
            generator_url=generator_url,
        )
        self._install(rule, replace)
        return rule

    def add_rule(
        self,
        name: str,
        description: str,
        condition: Callable[[], Any],
        severity: AlertSeverity | str = AlertSeverity.WARNING,
        category: str | None = None,
        *,
        duration: float = 0.0,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        keep_firing_for: float = 0.0,
        generator_url: str = "",
        replace: bool = False,
    ) -> CustomRule:
        """Alert when ``condition()`` is truthy (evaluated every tick) for ``duration`` seconds."""
        rule = CustomRule(
            name=name,
            description=description,
            severity=severity,  # type: ignore[arg-type]
            category=category,
            duration=duration,
            labels=_mapping("labels", labels),
            annotations=_mapping("annotations", annotations),
            keep_firing_for=keep_firing_for,
            condition=condition,
            generator_url=generator_url,
        )
        self._install(rule, replace)
        return rule

    def _install(self, rule: MetricRule | CustomRule, replace: bool) -> None:
        with self._lock:
            if rule.name in self._rules:
                if not replace:
                    raise ValueError(f"a rule named {rule.name!r} exists; pass replace=True to replace it")
                self.remove_rule(rule.name)
            self._rules[rule.name] = rule
            if isinstance(rule, MetricRule):
                watchers = self._by_metric.setdefault(rule.metric_name, [])
                if not watchers:
                    self.store.watch(rule.metric_name, self._on_sample)
                watchers.append(rule)

    def remove_rule(self, name: str) -> bool:
        """Remove a rule and resolve its alerts; return whether it existed."""
        if not isinstance(name, str):
            return False  # never a rule's name
        with self._lock:
            rule = self._rules.pop(name, None)
            if rule is None:
                return False
            if isinstance(rule, MetricRule):
                watchers = self._by_metric[rule.metric_name]
                watchers.remove(rule)
                if not watchers:
                    del self._by_metric[rule.metric_name]
                    self.store.unwatch(rule.metric_name, self._on_sample)
            for state in list(rule.states.values()):
                self._end(rule, state, self.clock())
            rule.states.clear()
            return True

    def get_rule(self, name: str) -> MetricRule | CustomRule:
        """The rule of that name (``KeyError`` listing the rule names otherwise)."""
        rule = self._rules.get(name) if isinstance(name, str) else None
        if rule is None:
            raise KeyError(f"no rule named {safe_repr(name)}; rules: {sorted(self._rules)}")
        return rule

    def list_rules(self) -> list[MetricRule | CustomRule]:
        """Every rule, by name."""
        return [self._rules[n] for n in sorted(self._rules)]

    def enable_rule(self, name: str) -> None:
        """Evaluate the rule again."""
        self.get_rule(name).enabled = True

    def disable_rule(self, name: str) -> None:
        """Stop evaluating the rule and resolve its alerts."""
        with self._lock:
            rule = self.get_rule(name)
            rule.enabled = False
            for state in list(rule.states.values()):
                self._end(rule, state, self.clock())
            rule.states.clear()

    # -- evaluation ---------------------------------------------------------------------------------
    def _on_sample(self, series: Series, ts: float, value: float) -> None:
        """A sample of a watched metric arrived (on the recording thread): run the rules watching it."""
        if not self.evaluating:
            return
        for rule in self._by_metric.get(series.name, ()):
            try:
                if rule.enabled:
                    self._observe(rule, series, ts, value)
            except Exception as exc:  # a rule bug must never reach the recording code
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
                state = rule.states[series] = SeriesState(RuleState.PENDING, since=ts, labels=_labels(series))
            state.value, state.last_sample = value, ts
            self._advance(rule, state, rule.holds(value, state.state == RuleState.FIRING), ts, series)

    def _advance(self, rule: MetricRule | CustomRule, state: SeriesState, holds: bool, now: float, key: Any) -> None:
        """Move one (rule, series) along: pending → firing → resolved."""
        if state.state == RuleState.PENDING:
            if not holds:
                rule.states.pop(key, None)
            elif now - state.since >= rule.duration:
                self._fire(rule, state, now)
        elif state.state == RuleState.FIRING:
            alert = self._active.get(state.alert_id or "")
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
                    self._end(rule, state, now)
                    rule.states.pop(key, None)

    def _fire(self, rule: MetricRule | CustomRule, state: SeriesState, now: float) -> None:
        details: dict[str, Any] = {"value": state.value}
        if isinstance(rule, MetricRule):
            details.update(metric=rule.metric_name, threshold=rule.threshold, operator=rule.operator)
        labels = {**rule.labels, **state.labels}
        existing = self._by_fingerprint.get(fingerprint(rule.name, labels))
        if existing is not None and existing.active:  # restored from an earlier run, or fired by hand
            alert = existing
            alert.occurrences += 1
            alert.last_seen, alert.value = now, state.value
        else:
            alert = self._open(rule.name, rule.description, rule.severity, rule.category, labels, rule.annotations,
                               details, now, rule.generator_url)  # fmt: skip
            alert.rule, alert.value = rule.name, state.value
        state.state, state.since, state.alert_id = RuleState.FIRING, now, alert.id
        self._history.save(alert)

    def _end(self, rule: MetricRule | CustomRule, state: SeriesState, now: float) -> None:
        if state.state == RuleState.FIRING and state.alert_id in self._active:
            self._close(self._active[state.alert_id], now)

    def _rule_error(self, rule: MetricRule | CustomRule, exc: Exception) -> None:
        rule.errors += 1
        rule.last_error = f"{type(exc).__name__}: {exc}"
        self.evaluation_errors += 1
        if rule.errors == 1 or rule.errors % 100 == 0:
            _log.error("zgen_otel: alert rule %r failed (%d times): %s", rule.name, rule.errors, rule.last_error)

    def evaluate(self, now: float | None = None) -> None:
        """One tick: time-based transitions, custom conditions, stale series, repeats, retention."""
        now = self.clock() if now is None else now
        with self._lock:
            if self.evaluating:
                for rule in list(self._rules.values()):
                    if not rule.enabled:
                        continue
                    try:
                        if isinstance(rule, CustomRule):
                            self._tick_custom(rule, now)
                        elif rule.states:  # a metric rule with no pending or firing series: time changes nothing
                            self._tick_metric(rule, now)
                    except Exception as exc:
                        self._rule_error(rule, exc)
            self._repeat(now)
            self._history.prune(now - self.retention_seconds)
            active = [a for a in self._active.values() if not self.is_silenced(a)]
        for channel in list(self.dispatcher.channels):
            if self.notifying:
                channel.on_tick(active)

    def _tick_metric(self, rule: MetricRule, now: float) -> None:
        stale_before = now - self.stale_after
        for key, state in list(rule.states.items()):
            if state.last_sample < stale_before:  # the metric stopped reporting
                self._advance(rule, state, False, now, key)
            elif state.state is RuleState.PENDING and now - state.since < rule.duration:
                continue  # its last sample held the condition (or it would be gone); only time moves it, not yet
            elif state.value is not None:
                self._advance(rule, state, rule.holds(state.value, state.state == RuleState.FIRING), now, key)

    def _tick_custom(self, rule: CustomRule, now: float) -> None:
        holds, value = rule.evaluate()
        rule.last_value = value
        state = rule.states.get(None)
        if state is None:
            if not holds:
                return
            state = rule.states[None] = SeriesState(RuleState.PENDING, since=now)
        state.value, state.last_sample = value, now
        self._advance(rule, state, holds, now, None)

    # -- alerts -------------------------------------------------------------------------------------
    def trigger_alert(
        self,
        name: str,
        description: str,
        severity: AlertSeverity | str = AlertSeverity.WARNING,
        category: str | None = None,
        details: Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        generator_url: str = "",
    ) -> Alert:
        """Raise an alert by hand; the same name+labels while it is active updates it (``occurrences``).

        ``generator_url`` is the alert's ``generatorURL``: a link to where it comes from (a dashboard, a runbook).
        """
        validate_name("alert name", name)
        if not isinstance(description, str):
            raise TypeError(f"description must be a str; got {safe_repr(description)}")
        level = AlertSeverity.parse(severity)
        check_text("category", category)
        if details is not None:
            if not isinstance(details, Mapping):
                raise TypeError(f"details must be a mapping or None; got {safe_repr(details)}")
            try:  # the alert's JSON form (API, history file, notifications) must be writable
                json.dumps(dict(details), default=str)
            except (TypeError, ValueError, RecursionError) as exc:
                raise ValueError(f"details must be JSON-serialisable ({exc}); got {safe_repr(details)}") from None
        label_map = str_map("labels", labels)
        note_map = str_map("annotations", annotations)
        link = check_url("generator_url", generator_url)
        now = self.clock()
        if not self.recording:  # monitoring disabled: the checked alert comes back, nothing is kept or sent
            return Alert(name, description, level, category, label_map, note_map, dict(details or {}), now,
                         last_seen=now, generator_url=link)  # fmt: skip
        with self._lock:
            existing = self._by_fingerprint.get(fingerprint(name, label_map))
            if existing is not None and existing.active:
                existing.occurrences += 1
                existing.last_seen = now
                existing.description = description
                existing.details.update(details or {})
                self._history.save(existing)
                return existing
            return self._open(name, description, level, category, label_map, note_map, dict(details or {}), now, link)

    def _open(
        self,
        name: str,
        description: str,
        severity: AlertSeverity,
        category: str | None,
        labels: dict[str, str],
        annotations: dict[str, str],
        details: dict[str, Any],
        now: float,
        generator_url: str,
    ) -> Alert:
        alert = Alert(name, description, severity, category, labels, dict(annotations), details, now, last_seen=now,
                      generator_url=generator_url)  # fmt: skip
        self._active[alert.id] = alert
        self._by_fingerprint[alert.fingerprint] = alert
        self._history.add(alert)
        _events.warning("alert fired: %s [%s] %s", name, severity.label, description)
        self._send("firing", alert, now)
        return alert

    def _close(self, alert: Alert, now: float) -> None:
        alert.status, alert.ends_at = AlertStatus.RESOLVED, now
        self._active.pop(alert.id, None)
        if self._by_fingerprint.get(alert.fingerprint) is alert:
            del self._by_fingerprint[alert.fingerprint]
        self._history.save(alert)
        _events.info("alert resolved: %s", alert.name)
        self._send("resolved", alert, now)
        self._notified.pop(alert.id, None)  # only firing alerts are re-sent

    def get_alert(self, alert_id: str) -> Alert:
        """An alert from the history by id (``KeyError`` when unknown)."""
        with self._lock:
            active = self._active.get(alert_id) if isinstance(alert_id, str) else None  # also one pushed out of history
            if active is not None:
                return active
            for alert in self._history.items:
                if alert.id == alert_id:
                    return alert
        raise KeyError(f"no alert with id {safe_repr(alert_id)}")

    def acknowledge_alert(self, alert_id: str, by: str | None = None, note: str | None = None) -> Alert:
        """Acknowledge an active alert: it stays active while its condition holds, without repeat notifications.

        Raises:
            KeyError: unknown id. ValueError: the alert is already resolved.
        """
        check_text("by", by)
        check_text("note", note)
        with self._lock:
            alert = self.get_alert(alert_id)
            if not alert.active:
                raise ValueError(f"alert {alert_id!r} is resolved; only active alerts can be acknowledged")
            alert.status = AlertStatus.ACKNOWLEDGED
            alert.acknowledged_at, alert.acknowledged_by, alert.acknowledgement_note = self.clock(), by, note
            self._history.save(alert)
            _events.info("alert acknowledged: %s by %s", alert.name, by or "someone")
            return alert

    def resolve_alert(self, alert_id: str) -> Alert:
        """Resolve an active alert by hand (a rule whose condition still holds fires a new one later)."""
        with self._lock:
            alert = self.get_alert(alert_id)
            if alert.active:
                self._close(alert, self.clock())
            return alert

    def get_active_alerts(
        self, severity: AlertSeverity | str | None = None, category: str | None = None
    ) -> list[Alert]:
        """Firing and acknowledged alerts, most severe first, then newest first."""
        level = None if severity is None else AlertSeverity.parse(severity)
        with self._lock:
            alerts = [
                a
                for a in self._active.values()
                if (level is None or a.severity == level) and (category is None or a.category == category)
            ]
        return sorted(alerts, key=lambda a: (-a.severity, -a.starts_at))

    def get_alert_history(
        self,
        severity: AlertSeverity | str | None = None,
        category: str | None = None,
        status: AlertStatus | str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[Alert]:
        """Alerts newest first, filtered by severity, category, status and start time."""
        level = None if severity is None else AlertSeverity.parse(severity)
        state = None if status is None else _status(status)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValueError(f"limit must be a whole number >= 0 or None; got {safe_repr(limit)}")
        since, until = _bound("since", since), _bound("until", until)
        with self._lock:
            found = [
                a
                for a in reversed(self._history.items)
                if (level is None or a.severity == level)
                and (category is None or a.category == category)
                and (state is None or a.status is state)
                and (since is None or a.starts_at >= since)
                and (until is None or a.starts_at <= until)
            ]
        return found if limit is None else found[:limit]

    # -- silences -----------------------------------------------------------------------------------
    def add_silence(
        self,
        matchers: Mapping[str, str | re.Pattern[str]],
        duration: float,
        comment: str = "",
        created_by: str | None = None,
    ) -> Silence:
        """Mute notifications of alerts whose labels match for ``duration`` seconds (state is unaffected)."""
        if (
            not isinstance(matchers, Mapping)
            or not matchers
            or not all(isinstance(k, str) and isinstance(v, (str, re.Pattern)) for k, v in matchers.items())
        ):
            raise ValueError(f"matchers must map label names to a value or a re.Pattern; got {safe_repr(matchers)}")
        seconds = positive_seconds("duration", duration)
        now = self.clock()
        silence = Silence(uuid.uuid4().hex, dict(matchers), now, now + seconds, comment, created_by)
        with self._lock:
            self._silences[silence.id] = silence
        return silence

    def remove_silence(self, silence_id: str) -> bool:
        """Remove a silence; return whether it existed."""
        if not isinstance(silence_id, str):
            return False  # never a silence's id
        with self._lock:
            return self._silences.pop(silence_id, None) is not None

    def list_silences(self) -> list[Silence]:
        """Silences that have not expired."""
        now = self.clock()
        with self._lock:
            for sid in [s.id for s in self._silences.values() if s.ends_at <= now]:
                del self._silences[sid]
            return list(self._silences.values())

    def is_silenced(self, alert: Alert) -> bool:
        """Whether an active silence matches the alert's labels."""
        labels, now = alert.all_labels(), self.clock()
        return any(s.matches(labels, now) for s in list(self._silences.values()))

    # -- notifications ------------------------------------------------------------------------------
    def add_notifier(self, notifier: Notifier) -> None:
        """Send notifications to this channel too."""
        if not isinstance(notifier, Notifier):
            raise TypeError(f"notifier must be a zgen_otel.alerting.Notifier; got {safe_repr(notifier)}")
        self.dispatcher.channels.append(notifier)

    def remove_notifier(self, notifier: Notifier) -> None:
        """Stop sending to this channel."""
        self.dispatcher.channels.remove(notifier)

    def _send(self, event: str, alert: Alert, now: float) -> None:
        if not self.notifying or not self.dispatcher.channels or self.is_silenced(alert):
            return
        self._notified[alert.id] = now
        self.dispatcher.submit(Notification(event, alert.to_dict()))

    def _repeat(self, now: float) -> None:
        for alert in list(self._active.values()):
            if alert.status is AlertStatus.FIRING and now - self._notified.get(alert.id, now) >= self.repeat_interval:
                self._send("repeat", alert, now)

    def _observe_alerts(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            alerts = list(self._active.values())
            pending = [(r, s) for r in self._rules.values() for s in r.states.values() if s.state == RuleState.PENDING]
        for a in alerts:
            yield Observation(1, {"alertname": a.name, "severity": a.severity.label, "alertstate": a.status.value})
        for rule, _ in pending:
            yield Observation(1, {"alertname": rule.name, "severity": rule.severity.label, "alertstate": "pending"})

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the background evaluator (a tick every ``evaluation_interval`` seconds)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="zgen-otel-alerting", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.evaluation_interval):
            try:
                self.evaluate()
            except Exception:
                _log.exception("zgen_otel: alert evaluation tick failed")

    def before_fork(self) -> None:
        """Hold the alert state's lock, so the child's copy is consistent."""
        self._lock.acquire()

    def after_fork(self, child: bool) -> None:
        """Release the lock; in the child, restart the evaluator and the notification workers of its own."""
        self._lock.release()
        if not child:
            return
        self._history.detach()
        self.dispatcher.after_fork_in_child()
        if self._thread is not None and not self._stop.is_set():
            self._stop = threading.Event()
            self._thread = None
            self.start()

    def shutdown(self) -> None:
        """Stop evaluating, deliver queued notifications, close the history file."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            for name in list(self._by_metric):
                self.store.unwatch(name, self._on_sample)
            self._by_metric.clear()
        self.dispatcher.shutdown()
        self._history.close()


def _mapping(what: str, value: object) -> dict[Any, Any]:
    """``value`` (a mapping or None) as a dict; ``TypeError`` naming it otherwise."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a mapping or None; got {safe_repr(value)}")
    return dict(value)


def _bound(what: str, value: object) -> float | None:
    """A time bound (Unix seconds) or None; ``TypeError`` naming it otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of Unix seconds or None; got {safe_repr(value)}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{what} is out of range; got {safe_repr(value)}") from None


def _labels(series: Series) -> dict[str, str]:
    return {k: str(v) for k, v in series.attributes.items()}


def _status(value: AlertStatus | str) -> AlertStatus:
    try:
        return AlertStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in AlertStatus)
        raise ValueError(f"status must be one of {allowed}; got {safe_repr(value)}") from None
