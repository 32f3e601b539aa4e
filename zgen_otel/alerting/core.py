"""The alert manager's parts and how they are wired; `zgen_otel.alerting.manager` adds the public API on top.

One lock (`AlertLock`) guards the rules (`registry`) and the alerts (`lifecycle`, with their `history`);
the rules run in `evaluator`, custom conditions off the lock (`conditions`); the silences (`silences`) and
the notification channels (`dispatch`) decide what is sent, and the channels run on the dispatcher's workers.
Here too: which alert changes become notifications (fired, repeated while firing and unacknowledged,
resolved) and the ``zgen.alerts`` gauge.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from zgen_otel import semconv
from zgen_otel._validate import check_count, positive_seconds
from zgen_otel.alerting.channel import Notification, NotificationEvent
from zgen_otel.alerting.conditions import ConditionRunner, Outcome
from zgen_otel.alerting.dispatch import Dispatcher
from zgen_otel.alerting.evaluator import RuleEvaluator, Ticker
from zgen_otel.alerting.history import AlertHistory
from zgen_otel.alerting.lifecycle import AlertLifecycle, AlertLock
from zgen_otel.alerting.model import Alert, AlertStatus
from zgen_otel.alerting.registry import Rule, RuleRegistry
from zgen_otel.alerting.rules import RuleState
from zgen_otel.alerting.silences import SilenceRegistry
from zgen_otel.store import MetricStore

__all__ = ["AlertCore"]


class AlertCore:
    """The state of an alert manager and its wiring: the base of `AlertManager`, which documents the arguments.

    It also holds the hooks the runtime calls: `start`, `before_fork`/`after_fork` and `stop_evaluating`.
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
        self._notified: dict[str, float] = {}  # alert id -> when it was last notified (firing alerts only)
        self._silences = SilenceRegistry()
        history = AlertHistory(check_count("history_limit", history_limit, minimum=1), history_path)
        self._alerts = AlertLifecycle(history, self._announce, self._lock)
        self._evaluator = RuleEvaluator(store, self._alerts, self._lock, enabled=evaluate)
        self._conditions = ConditionRunner()
        self._rules = RuleRegistry(self._evaluator, self._conditions)
        self.dispatcher = Dispatcher(
            group_wait=group_wait, max_queue=max_queue, max_retries=max_retries, backoff=backoff
        )
        self._ticker = Ticker(self._tick, lambda: self.evaluation_interval)
        if meter is not None:
            spec = semconv.ALERTS
            meter.create_observable_gauge(
                spec.name, callbacks=[self._observe_alerts], unit=spec.unit, description=spec.description
            )

    def start(self) -> None:
        """Start the background evaluator (a tick every ``evaluation_interval`` seconds)."""
        self._ticker.start()

    def before_fork(self) -> None:
        """Hold the alert state's lock, so the child's copy is consistent."""
        self._lock.acquire()

    def after_fork(self, child: bool) -> None:
        """Release the lock `before_fork` took; in the child, restart the evaluator and the notification workers.

        Args:
            child: True in the new child process, False in the parent.
        """
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

    def _tick(self, now: float | None = None) -> None:
        """One tick of the evaluator: custom conditions (off the lock), time, stale series, repeats, retention."""
        now = self.clock() if now is None else now
        evaluating = self._evaluator.enabled
        outcomes: dict[int, Outcome] = {}
        if evaluating:
            with self._lock:
                custom = self._rules.enabled_custom()
            if custom:
                outcomes = self._conditions.run(custom, self.evaluation_interval)
        with self._lock:
            if evaluating:
                self._evaluator.tick(self._rules.all(), now, now - self.stale_after, outcomes)
            self._repeat(now)
            self._alerts.history.prune(now - self.retention_seconds)
            active = [a for a in self._alerts.active.values() if not self._muted(a)]
        if self.notifying:  # on_tick (Alertmanager's re-send) runs on each channel's worker, never here
            self.dispatcher.tick(active)

    def _add(self, rule: Rule, replace: bool) -> None:
        with self._lock:
            self._rules.add(rule, replace, self.clock())

    def _muted(self, alert: Alert) -> bool:
        return self._silences.mutes(alert.all_labels(), self.clock())

    def _announce(self, event: NotificationEvent, alert: Alert, now: float) -> None:
        """Notify the channels of an alert that fired, repeats or resolved (unless muted or turned off)."""
        if event is NotificationEvent.RESOLVED:
            self._notified.pop(alert.id, None)  # only firing alerts are re-sent
        if not self.notifying or not self.dispatcher.channels or self._muted(alert):
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
            pending = self._rules.pending()
        for a in alerts:
            yield Observation(1, {"alertname": a.name, "severity": a.severity.label, "alertstate": a.status.value})
        for rule in pending:
            yield Observation(1, {"alertname": rule.name, "severity": rule.severity.label,
                                  "alertstate": RuleState.PENDING.value})  # fmt: skip
