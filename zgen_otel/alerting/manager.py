"""The alert manager: the public API of alerting (rules, alerts, silences, notification channels).

`AlertManager` adds the API to the parts `zgen_otel.alerting.core` wires together: the rules run in
`evaluator`, on the recording thread for metric rules and on a periodic tick for time, custom conditions,
repeated notifications and history retention. One lock guards rules and alerts; no user code runs under it:
custom conditions run before the tick takes it (`conditions`), channels on the dispatcher's workers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from zgen_otel._util import safe_repr
from zgen_otel._validate import check_count, check_text, positive_seconds
from zgen_otel.alerting.channel import Notifier
from zgen_otel.alerting.core import AlertCore
from zgen_otel.alerting.lifecycle import checked_alert
from zgen_otel.alerting.model import Alert, AlertSeverity, AlertStatus
from zgen_otel.alerting.rules import CustomRule, MetricRule, mapping_arg
from zgen_otel.alerting.silences import Silence

__all__ = ["AlertManager", "Silence"]


class AlertManager(AlertCore):
    """Process-wide alerting: rules, alerts, history, silences, notification channels.

    `get_alert_manager` returns the runtime's; build one yourself only for tests or a separate set of rules.

    Args:
        store: the metric store metric rules read.
        clock: the time source (``time.time``).
        evaluate: run rules (``ALERTING_ENABLED``); manual ``trigger_alert`` works either way.
        notify: send notifications (``ALERTING_NOTIFICATIONS``); state and history are kept either way.
        evaluation_interval: seconds between ticks of the background evaluator.
        stale_after: a series with no sample for this long no longer satisfies its rule.
        repeat_interval: a firing, unacknowledged alert is notified again after this many seconds.
        history_limit: alerts kept in the history; ``retention_seconds`` bounds their age.
        retention_seconds: resolved alerts that started longer ago than this leave the history (at each tick).
        history_path: SQLite file for the history (the store's file), or None.
        meter: where the ``zgen.alerts`` gauge goes (like Prometheus' ``ALERTS``), or None.
        group_wait: seconds a burst is collected into one batch per channel (see ``configure``).
        max_queue: the size of each notification queue.
        max_retries: attempts after a failed delivery.
        backoff: seconds before the first retry, doubled for each next one.
        record: keep and send alerts; False (``MONITORING_ENABLED=false``) makes ``trigger_alert`` return the
            checked alert without storing, logging or sending it.

    Raises:
        ValueError: an interval, a count or a delivery setting out of range or of the wrong type, naming it.
    """

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
        return self._rules.overrunning()

    def configure(
        self, *, repeat_interval: float | None = None, group_wait: float | None = None, max_queue: int | None = None,
        max_retries: int | None = None, backoff: float | None = None, history_limit: int | None = None,
        stale_after: float | None = None,
    ) -> None:  # fmt: skip
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
        self, name: str, description: str, metric_name: str, threshold: float, operator: str = ">",
        duration: float = 0.0, severity: AlertSeverity | str = AlertSeverity.WARNING, category: str | None = None,
        *, labels: Mapping[str, str] | None = None, annotations: Mapping[str, str] | None = None,
        clear_threshold: float | None = None, keep_firing_for: float = 0.0, aggregate: str | None = None,
        window: float | None = None, attributes: Mapping[str, Any] | None = None, generator_url: str = "",
        replace: bool = False,
    ) -> MetricRule:  # fmt: skip
        """Alert when ``metric_name`` compares true with ``threshold`` for ``duration`` seconds.

        Args:
            name: the rule's name and its alerts' ``alertname``: a letter or ``_``, then letters, digits,
                ``_``, ``.``, ``:`` or ``-`` (at most 200 characters).
            description: what the alerts say.
            metric_name: the metric to watch, as recorded (``system.cpu_percent``); each sample is judged as it
                is recorded, and each series (attribute set) fires its own alert, labelled with its attributes.
            threshold: the value the metric is compared with.
            operator: ``>``, ``>=``, ``<``, ``<=``, ``==`` or ``!=``.
            duration: seconds the condition must hold before the alert fires (Prometheus' ``for``; the rule is
                ``pending`` meanwhile); 0 fires at once.
            severity: the alerts' `AlertSeverity`, or its name in any case (``"error"``).
            category: a free-form group for the alerts (``"system"``, ``"cost"``), or None.
            labels: extra labels of the alerts (str to str); silences and channel filters match labels.
            annotations: extra annotations of the alerts (str to str), such as a runbook link.
            clear_threshold: once firing, the alert resolves only past this value instead of ``threshold``
                (fire above 90, clear at 80); needs ``>``, ``>=``, ``<`` or ``<=``.
            keep_firing_for: seconds the alert stays firing after the condition stops holding.
            aggregate: judge ``avg``, ``max`` or ``min`` over ``window``, or the ``increase`` of a cumulative
                counter over it, instead of each sample; None judges each sample.
            window: seconds ``aggregate`` looks back (> 0); needed with ``aggregate``.
            attributes: judge only the series with these attributes (str keys; str, bool, int or float values).
            generator_url: the alerts' ``generatorURL``: an absolute http(s) link (a dashboard), or ``""``.
            replace: replace a rule of the same name (resolving its alerts) instead of raising.

        Returns:
            The rule, evaluating from now on; its ``state``, ``last_value`` and ``to_dict()`` show how it stands.

        Raises:
            DefinitionError: a malformed name, an unknown operator or aggregate, a negative duration, a
                threshold that is not finite, ``aggregate`` without ``window``, a link that is not http(s), or a
                name already taken without ``replace=True``; the message names the value and what is allowed.
            ValueError: an unknown severity.
            TypeError: an argument of the wrong type (a threshold that is not a number...), naming it.
        """
        rule = MetricRule(name=name, description=description, severity=severity,  # type: ignore[arg-type]
                          category=category, duration=duration, labels=mapping_arg("labels", labels),
                          annotations=mapping_arg("annotations", annotations), keep_firing_for=keep_firing_for,
                          metric_name=metric_name, threshold=threshold, operator=operator,
                          clear_threshold=clear_threshold, aggregate=aggregate, window=window,
                          attributes=mapping_arg("attributes", attributes), generator_url=generator_url)  # fmt: skip
        self._add(rule, replace)
        return rule

    def add_rule(
        self, name: str, description: str, condition: Callable[[], Any],
        severity: AlertSeverity | str = AlertSeverity.WARNING, category: str | None = None, *, duration: float = 0.0,
        labels: Mapping[str, str] | None = None, annotations: Mapping[str, str] | None = None,
        keep_firing_for: float = 0.0, generator_url: str = "", replace: bool = False,
    ) -> CustomRule:  # fmt: skip
        """Alert when ``condition()`` is truthy (evaluated every tick) for ``duration`` seconds.

        Args:
            name: the rule's name and its alerts' ``alertname`` (as in `add_metric_rule`).
            description: what the alerts say.
            condition: called with no arguments on a thread of its own; returns a bool, a number (truthy when
                not 0, kept as the alert's value) or a ``(holds, value)`` pair. If it raises, the rule counts an
                error (``errors``, ``last_error``); the other rules go on.
            severity: the alerts' `AlertSeverity`, or its name in any case.
            category: a free-form group for the alerts, or None.
            duration: seconds the condition must hold before the alert fires; 0 fires at once.
            labels: extra labels of the alerts (str to str).
            annotations: extra annotations of the alerts (str to str).
            keep_firing_for: seconds the alert stays firing after the condition stops holding.
            generator_url: the alerts' ``generatorURL`` (an absolute http(s) link), or ``""``.
            replace: replace a rule of the same name (resolving its alerts) instead of raising.

        Returns:
            The rule, evaluated from the next tick on.

        Raises:
            DefinitionError: a malformed name, a negative duration, a link that is not http(s), or a name
                already taken without ``replace=True``.
            ValueError: an unknown severity.
            TypeError: a condition that is not callable, or another argument of the wrong type, naming it.
        """
        rule = CustomRule(name=name, description=description, severity=severity,  # type: ignore[arg-type]
                          category=category, duration=duration, labels=mapping_arg("labels", labels),
                          annotations=mapping_arg("annotations", annotations), keep_firing_for=keep_firing_for,
                          condition=condition, generator_url=generator_url)  # fmt: skip
        self._add(rule, replace)
        return rule

    def remove_rule(self, name: str) -> bool:
        """Remove a rule and resolve its alerts.

        Args:
            name: the rule's name.

        Returns:
            Whether a rule of that name existed.
        """
        with self._lock:
            return self._rules.remove(name, self.clock())

    def get_rule(self, name: str) -> MetricRule | CustomRule:
        """The rule of that name.

        Args:
            name: the rule's name.

        Returns:
            The rule.

        Raises:
            NotFoundError: no rule has that name (the message lists the rule names).
        """
        return self._rules.get(name)

    def list_rules(self) -> list[MetricRule | CustomRule]:
        """Every rule, metric and custom.

        Returns:
            The rules, sorted by name.
        """
        return self._rules.by_name()

    def enable_rule(self, name: str) -> None:
        """Evaluate a disabled rule again.

        Args:
            name: the rule's name.

        Raises:
            NotFoundError: no rule has that name.
        """
        self._rules.get(name).enabled = True

    def disable_rule(self, name: str) -> None:
        """Stop evaluating a rule and resolve its alerts, until `enable_rule`.

        Args:
            name: the rule's name.

        Raises:
            NotFoundError: no rule has that name.
        """
        with self._lock:
            self._rules.disable(name, self.clock())

    def evaluate(self, now: float | None = None) -> None:
        """Run one tick now, as the background evaluator does every ``evaluation_interval`` seconds.

        It runs the custom conditions, moves the rules along in time (``duration``, ``keep_firing_for``, stale
        series), sends the repeat notifications due and drops history older than ``retention_seconds``.

        Args:
            now: the time of the tick (Unix seconds); None reads the manager's clock.
        """
        self._tick(now)

    # -- alerts -------------------------------------------------------------------------------------
    def trigger_alert(
        self, name: str, description: str, severity: AlertSeverity | str = AlertSeverity.WARNING,
        category: str | None = None, details: Mapping[str, Any] | None = None, labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None, generator_url: str = "",
    ) -> Alert:  # fmt: skip
        """Raise an alert by hand; the same name+labels while it is active updates it (``occurrences``).

        It stays active until `resolve_alert`; it goes to the history, the ``zgen_otel.alerts`` log and,
        unless a silence matches it, to the notification channels.

        Args:
            name: the alert's name (``alertname``): a letter or ``_``, then letters, digits, ``_``, ``.``,
                ``:`` or ``-`` (at most 200 characters).
            description: what happened, for a person.
            severity: an `AlertSeverity`, or its name in any case (``"critical"``).
            category: a free-form group (``"system"``, ``"cost"``), or None.
            details: data about this occurrence (JSON-serialisable); an update merges them in.
            labels: extra labels (str to str): with the name they identify the alert; silences match them.
            annotations: extra annotations (str to str), such as a runbook link.
            generator_url: the alert's ``generatorURL``: an absolute http(s) link to where it comes from (a
                dashboard, a runbook), or ``""``.

        Returns:
            The new alert, or the active one it updated; with recording off (``MONITORING_ENABLED=false``),
                the checked alert, neither kept nor sent.

        Raises:
            DefinitionError: a malformed name, details that are not JSON-serialisable, or a link that is not
                http(s), naming the value.
            ValueError: an unknown severity.
            TypeError: an argument of the wrong type (labels that are not str to str...), naming it.
        """
        alert = checked_alert(name, description, severity, category, details, labels, annotations, generator_url,
                              self.clock())  # fmt: skip
        if not self.recording:  # monitoring disabled: the checked alert comes back, nothing is kept or sent
            return alert
        with self._lock:
            return self._alerts.raise_alert(alert)

    def get_alert(self, alert_id: str) -> Alert:
        """An alert by id: an active one or one from the history.

        Args:
            alert_id: the alert's ``id``.

        Returns:
            The alert (an active one keeps changing as its rule runs).

        Raises:
            NotFoundError: no alert has that id.
        """
        with self._lock:
            return self._alerts.get(alert_id)

    def acknowledge_alert(self, alert_id: str, by: str | None = None, note: str | None = None) -> Alert:
        """Acknowledge an active alert: it stays active while its condition holds, without repeat notifications.

        Args:
            alert_id: the alert's ``id``.
            by: who acknowledges it, or None.
            note: why, or what is being done about it, or None.

        Returns:
            The alert, now ``acknowledged``.

        Raises:
            NotFoundError: no alert has that id.
            ValueError: the alert is already resolved.
            TypeError: ``by`` or ``note`` is neither a str nor None.
        """
        check_text("by", by)
        check_text("note", note)
        with self._lock:
            alert = self._alerts.get(alert_id)
            self._alerts.acknowledge(alert, self.clock(), by, note)
            return alert

    def resolve_alert(self, alert_id: str) -> Alert:
        """Resolve an active alert by hand (a rule whose condition still holds fires a new one later).

        Args:
            alert_id: the alert's ``id``.

        Returns:
            The alert, now ``resolved`` (an alert already resolved is returned unchanged).

        Raises:
            NotFoundError: no alert has that id.
        """
        with self._lock:
            alert = self._alerts.get(alert_id)
            if alert.active:
                self._alerts.close(alert, self.clock())
            return alert

    def get_active_alerts(
        self, severity: AlertSeverity | str | None = None, category: str | None = None
    ) -> list[Alert]:
        """Firing and acknowledged alerts, most severe first, then newest first.

        Args:
            severity: only alerts of this severity, or None for all.
            category: only alerts of this category, or None for all.

        Returns:
            The active alerts that match.

        Raises:
            ValueError: an unknown severity.
        """
        with self._lock:
            return self._alerts.query_active(severity, category)

    def get_alert_history(
        self, severity: AlertSeverity | str | None = None, category: str | None = None,
        status: AlertStatus | str | None = None, since: float | None = None, until: float | None = None,
        limit: int | None = None,
    ) -> list[Alert]:  # fmt: skip
        """Alerts newest first, filtered by severity, category, status and start time (Unix seconds).

        Args:
            severity: only alerts of this severity, or None for all.
            category: only alerts of this category, or None for all.
            status: only alerts with this `AlertStatus` (or its text, ``"resolved"``), or None for all.
            since: only alerts that started at or after this time, or None.
            until: only alerts that started at or before this time, or None.
            limit: at most this many alerts (>= 0), or None for all the history holds.

        Returns:
            The matching alerts of the history (active and resolved), newest first.

        Raises:
            ValueError, TypeError: a filter of the wrong type or out of range, naming it.
        """
        with self._lock:
            return self._alerts.history.query(severity, category, status, since, until, limit)

    # -- silences -----------------------------------------------------------------------------------
    def add_silence(
        self, matchers: Mapping[str, str | re.Pattern[str]], duration: float, comment: str = "",
        created_by: str | None = None,
    ) -> Silence:  # fmt: skip
        """Mute notifications of alerts whose labels match for ``duration`` seconds (state is unaffected).

        Args:
            matchers: label name to its exact value, or to a compiled ``re.Pattern`` the whole value must match;
                every matcher must match (``alertname``, ``severity`` and ``category`` are labels too).
            duration: how long the silence lasts from now, in seconds (> 0).
            comment: why, for whoever reads the silences.
            created_by: who added it, or None.

        Returns:
            The silence; `remove_silence` with its ``id`` ends it early.

        Raises:
            DefinitionError: no matchers, or one that is not a label name to a str or ``re.Pattern``.
            ValueError: a duration that is not a number of seconds > 0.
        """
        return self._silences.add(matchers, duration, self.clock(), comment, created_by)

    def remove_silence(self, silence_id: str) -> bool:
        """Remove a silence before it expires.

        Args:
            silence_id: the silence's ``id``.

        Returns:
            Whether a silence with that id existed.
        """
        return self._silences.remove(silence_id)

    def list_silences(self) -> list[Silence]:
        """The silences in effect.

        Returns:
            The silences that have not expired.
        """
        return self._silences.active(self.clock())

    def is_silenced(self, alert: Alert) -> bool:
        """Whether a silence in effect mutes an alert's notifications.

        Args:
            alert: the alert, whose `Alert.all_labels` are matched.

        Returns:
            True when a silence that has not expired matches the alert's labels.
        """
        return self._muted(alert)

    # -- notifications ------------------------------------------------------------------------------
    def add_notifier(self, notifier: Notifier) -> None:
        """Send notifications to this channel too.

        Args:
            notifier: the channel: a `Notifier` (`WebhookNotifier`, `SlackNotifier`, your own subclass...).

        Raises:
            TypeError: ``notifier`` is not a `Notifier`.
        """
        if not isinstance(notifier, Notifier):
            raise TypeError(f"notifier must be a zgen_otel.alerting.Notifier; got {safe_repr(notifier)}")
        self.dispatcher.channels.append(notifier)

    def remove_notifier(self, notifier: Notifier) -> None:
        """Stop sending to this channel.

        Args:
            notifier: a channel given to `add_notifier`.

        Raises:
            ValueError: the channel was not added.
        """
        self.dispatcher.channels.remove(notifier)

    def notification_stats(self) -> dict[str, Any]:
        """The delivery counters, to see whether notifications get through.

        Returns:
            ``queued``, ``delivered``, ``dropped`` and ``retries``, and ``failures`` per channel.
        """
        return self.dispatcher.stats.snapshot()

    def shutdown(self, grace: float = 3.0) -> None:
        """Stop evaluating, deliver the queued notifications and close the history file.

        Args:
            grace: seconds the channels get to deliver what is queued; what is left then is counted as dropped.
        """
        self.stop_evaluating()
        self.dispatcher.shutdown(grace)
        self._alerts.history.close()
