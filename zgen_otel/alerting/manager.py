"""The alert manager: the rule registry and the public API of alerting.

It holds the rules, the alerts (`lifecycle`), their history
(`history`), the silences (`silences`) and the
notification channels (`dispatch`); the rules run in
`evaluator`, on the recording thread for metric rules and on a periodic tick for time,
custom conditions, repeated notifications and history retention. One lock guards rules and alerts; no user
code runs under it: custom conditions run before the tick takes it (`conditions`),
channels on the dispatcher's workers.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from zgen_otel import semconv
from zgen_otel._util import safe_repr
from zgen_otel._validate import check_count, check_text, positive_seconds
from zgen_otel.alerting.conditions import ConditionRunner, Outcome
from zgen_otel.alerting.dispatch import Dispatcher
from zgen_otel.alerting.evaluator import RuleEvaluator, Ticker
from zgen_otel.alerting.history import AlertHistory
from zgen_otel.alerting.lifecycle import AlertLifecycle, AlertLock, checked_alert
from zgen_otel.alerting.model import Alert, AlertSeverity, AlertStatus
from zgen_otel.alerting.notifiers import Notification, NotificationEvent, Notifier
from zgen_otel.alerting.rules import CustomRule, MetricRule, RuleState
from zgen_otel.alerting.silences import Silence, SilenceRegistry
from zgen_otel.exceptions import DefinitionError, NotFoundError
from zgen_otel.store import MetricStore

__all__ = ["AlertManager", "Silence"]

_log = logging.getLogger(__name__)


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
        group_wait: seconds a burst is collected into one batch per channel (see ``configure``).
        max_queue: the size of each notification queue.
        max_retries: attempts after a failed delivery.
        backoff: seconds before the first retry, doubled for each next one.
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
        self.notifying = notify
        self.evaluation_interval = positive_seconds("evaluation_interval", evaluation_interval)
        self.stale_after = positive_seconds("stale_after", stale_after)
        self.repeat_interval = positive_seconds("repeat_interval", repeat_interval)
        self.retention_seconds = retention_seconds
        self._lock = AlertLock()
        self._rules: dict[str, MetricRule | CustomRule] = {}
        self._notified: dict[str, float] = {}  # alert id -> when it was last notified (firing alerts only)
        self._silences = SilenceRegistry()
        history = AlertHistory(check_count("history_limit", history_limit, minimum=1), history_path)
        self._alerts = AlertLifecycle(history, self._announce, self._lock)
        self._evaluator = RuleEvaluator(store, self._alerts, self._lock, enabled=evaluate)
        self._conditions = ConditionRunner()
        self.dispatcher = Dispatcher(
            group_wait=group_wait, max_queue=max_queue, max_retries=max_retries, backoff=backoff
        )
        self._ticker = Ticker(self.evaluate, lambda: self.evaluation_interval)
        if meter is not None:
            spec = semconv.ALERTS
            meter.create_observable_gauge(
                spec.name, callbacks=[self._observe_alerts], unit=spec.unit, description=spec.description
            )

    @property
    def evaluating(self) -> bool:
        """Whether rules run (``ALERTING_ENABLED``); manual ``trigger_alert`` works either way."""
        return self._evaluator.enabled

    @property
    def evaluation_errors(self) -> int:
        """How many times a rule failed (raised), all rules together."""
        return self._evaluator.errors

    @property
    def overrunning(self) -> list[str]:
        """The custom rules whose condition is still running past its tick (skipped until it returns), by name."""
        return sorted(r.name for r in list(self._rules.values()) if isinstance(r, CustomRule) and r.overrun)

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
                self._alerts.history.resize(limit)

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
            DefinitionError, TypeError: a bad definition (unknown operator, negative duration, unknown severity,
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
                    raise DefinitionError(f"a rule named {rule.name!r} exists; pass replace=True to replace it")
                self.remove_rule(rule.name)
            self._rules[rule.name] = rule
            if isinstance(rule, MetricRule):
                self._evaluator.watch(rule)

    def remove_rule(self, name: str) -> bool:
        """Remove a rule and resolve its alerts; return whether it existed."""
        if not isinstance(name, str):
            return False  # never a rule's name
        with self._lock:
            rule = self._rules.pop(name, None)
            if rule is None:
                return False
            if isinstance(rule, MetricRule):
                self._evaluator.unwatch(rule)
            else:
                self._conditions.forget(rule)
            self._evaluator.reset(rule, self.clock())
            return True

    def get_rule(self, name: str) -> MetricRule | CustomRule:
        """The rule of that name.

        Raises:
            NotFoundError: no rule has that name (the message lists the rule names).
        """
        rule = self._rules.get(name) if isinstance(name, str) else None
        if rule is None:
            raise NotFoundError(f"no rule named {safe_repr(name)}; rules: {sorted(self._rules)}")
        return rule

    def list_rules(self) -> list[MetricRule | CustomRule]:
        """Every rule, by name."""
        return [self._rules[n] for n in sorted(self._rules)]

    def enable_rule(self, name: str) -> None:
        """Evaluate the rule again (``NotFoundError`` for an unknown name)."""
        self.get_rule(name).enabled = True

    def disable_rule(self, name: str) -> None:
        """Stop evaluating the rule and resolve its alerts (``NotFoundError`` for an unknown name)."""
        with self._lock:
            rule = self.get_rule(name)
            rule.enabled = False
            self._evaluator.reset(rule, self.clock())

    def evaluate(self, now: float | None = None) -> None:
        """One tick: custom conditions (off the lock, see ``conditions``), time, stale series, repeats, retention."""
        now = self.clock() if now is None else now
        outcomes: dict[int, Outcome] = {}
        if self.evaluating:
            with self._lock:
                custom = [r for r in self._rules.values() if isinstance(r, CustomRule) and r.enabled]
            if custom:
                outcomes = self._conditions.run(custom, self.evaluation_interval)
        with self._lock:
            if self.evaluating:
                self._evaluator.tick(list(self._rules.values()), now, now - self.stale_after, outcomes)
            self._repeat(now)
            self._alerts.history.prune(now - self.retention_seconds)
            active = [a for a in self._alerts.active.values() if not self.is_silenced(a)]
        if self.notifying:  # on_tick (Alertmanager's re-send) runs on each channel's worker, never here
            self.dispatcher.tick(active)

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
        alert = checked_alert(name, description, severity, category, details, labels, annotations, generator_url,
                              self.clock())  # fmt: skip
        if not self.recording:  # monitoring disabled: the checked alert comes back, nothing is kept or sent
            return alert
        with self._lock:
            return self._alerts.raise_alert(alert)

    def get_alert(self, alert_id: str) -> Alert:
        """An alert by id: an active one or one from the history.

        Raises:
            NotFoundError: no alert has that id.
        """
        with self._lock:
            return self._alerts.get(alert_id)

    def acknowledge_alert(self, alert_id: str, by: str | None = None, note: str | None = None) -> Alert:
        """Acknowledge an active alert: it stays active while its condition holds, without repeat notifications.

        Raises:
            NotFoundError: unknown id. ValueError: the alert is already resolved.
        """
        check_text("by", by)
        check_text("note", note)
        with self._lock:
            alert = self._alerts.get(alert_id)
            self._alerts.acknowledge(alert, self.clock(), by, note)
            return alert

    def resolve_alert(self, alert_id: str) -> Alert:
        """Resolve an active alert by hand (a rule whose condition still holds fires a new one later).

        Raises:
            NotFoundError: unknown id.
        """
        with self._lock:
            alert = self._alerts.get(alert_id)
            if alert.active:
                self._alerts.close(alert, self.clock())
            return alert

    def get_active_alerts(
        self, severity: AlertSeverity | str | None = None, category: str | None = None
    ) -> list[Alert]:
        """Firing and acknowledged alerts, most severe first, then newest first."""
        with self._lock:
            return self._alerts.query_active(severity, category)

    def get_alert_history(
        self,
        severity: AlertSeverity | str | None = None,
        category: str | None = None,
        status: AlertStatus | str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[Alert]:
        """Alerts newest first, filtered by severity, category, status and start time (Unix seconds).

        Raises:
            ValueError, TypeError: a filter of the wrong type or out of range, naming it.
        """
        with self._lock:
            return self._alerts.history.query(severity, category, status, since, until, limit)

    # -- silences -----------------------------------------------------------------------------------
    def add_silence(
        self,
        matchers: Mapping[str, str | re.Pattern[str]],
        duration: float,
        comment: str = "",
        created_by: str | None = None,
    ) -> Silence:
        """Mute notifications of alerts whose labels match for ``duration`` seconds (state is unaffected).

        Raises:
            DefinitionError: no matchers, or one that is not a label name to a str or ``re.Pattern``.
            ValueError, TypeError: a duration that is not a number of seconds > 0.
        """
        return self._silences.add(matchers, duration, self.clock(), comment, created_by)

    def remove_silence(self, silence_id: str) -> bool:
        """Remove a silence; return whether it existed."""
        return self._silences.remove(silence_id)

    def list_silences(self) -> list[Silence]:
        """Silences that have not expired."""
        return self._silences.active(self.clock())

    def is_silenced(self, alert: Alert) -> bool:
        """Whether an active silence matches the alert's labels."""
        return self._silences.mutes(alert.all_labels(), self.clock())

    # -- notifications ------------------------------------------------------------------------------
    def add_notifier(self, notifier: Notifier) -> None:
        """Send notifications to this channel too."""
        if not isinstance(notifier, Notifier):
            raise TypeError(f"notifier must be a zgen_otel.alerting.Notifier; got {safe_repr(notifier)}")
        self.dispatcher.channels.append(notifier)

    def remove_notifier(self, notifier: Notifier) -> None:
        """Stop sending to this channel."""
        self.dispatcher.channels.remove(notifier)

    def notification_stats(self) -> dict[str, Any]:
        """The delivery counters: ``queued``, ``delivered``, ``dropped``, ``retries``, ``failures`` per channel."""
        return self.dispatcher.stats.snapshot()

    def _announce(self, event: NotificationEvent, alert: Alert, now: float) -> None:
        """Notify the channels of an alert that fired, repeats or resolved (unless muted or turned off)."""
        if event is NotificationEvent.RESOLVED:
            self._notified.pop(alert.id, None)  # only firing alerts are re-sent
        if not self.notifying or not self.dispatcher.channels or self.is_silenced(alert):
            return
        if event is not NotificationEvent.RESOLVED:
            self._notified[alert.id] = now
        self.dispatcher.submit(Notification(event, alert.to_dict()))

    def _repeat(self, now: float) -> None:
        for alert in list(self._alerts.active.values()):
            if alert.status is AlertStatus.FIRING and now - self._notified.get(alert.id, now) >= self.repeat_interval:
                self._announce(NotificationEvent.REPEAT, alert, now)

    def _observe_alerts(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            alerts = list(self._alerts.active.values())
            pending = [r for r in self._rules.values() for s in r.states.values() if s.state is RuleState.PENDING]
        for a in alerts:
            yield Observation(1, {"alertname": a.name, "severity": a.severity.label, "alertstate": a.status.value})
        for rule in pending:
            yield Observation(1, {"alertname": rule.name, "severity": rule.severity.label,
                                  "alertstate": RuleState.PENDING.value})  # fmt: skip

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the background evaluator (a tick every ``evaluation_interval`` seconds)."""
        self._ticker.start()

    def before_fork(self) -> None:
        """Hold the alert state's lock, so the child's copy is consistent."""
        self._lock.acquire()

    def after_fork(self, child: bool) -> None:
        """Release the lock; in the child, restart the evaluator and the notification workers of its own."""
        self._lock.release()
        if not child:
            return
        self._alerts.history.detach()
        self._conditions.after_fork_in_child()
        self.dispatcher.after_fork_in_child()
        self._ticker.after_fork_in_child()

    def stop_evaluating(self) -> None:
        """Stop the evaluator at once (a tick waiting on a condition returns) and stop judging samples."""
        self._conditions.close()
        self._ticker.stop(timeout=1.0)
        with self._lock:
            self._evaluator.unwatch_all()

    def shutdown(self, grace: float = 3.0) -> None:
        """Stop evaluating, give the channels ``grace`` seconds (see ``Dispatcher.shutdown``), close the history."""
        self.stop_evaluating()
        self.dispatcher.shutdown(grace)
        self._alerts.history.close()


def _mapping(what: str, value: object) -> dict[Any, Any]:
    """``value`` (a mapping or None) as a dict; ``TypeError`` naming it otherwise."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a mapping or None; got {safe_repr(value)}")
    return dict(value)
