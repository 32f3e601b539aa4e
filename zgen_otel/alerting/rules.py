"""Alert rules: a metric compared with a threshold, or a custom condition, with Prometheus' ``for`` semantics.

A rule has a state per series it watches: ``inactive`` → ``pending`` (the condition holds, for less than
``duration``) → ``firing`` (an alert exists) → back to ``inactive`` when the condition stops holding (after
``keep_firing_for``, and with ``clear_threshold`` as the threshold to go back under). Rules only decide;
the `AlertManager` owns the alerts.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from zgen_otel._util import safe_repr
from zgen_otel._validate import MAX_WINDOW, check_attributes, check_name, check_text, finite_float
from zgen_otel.alerting.model import AlertSeverity, TextEnum
from zgen_otel.exceptions import DefinitionError

__all__ = [
    "OPERATORS",
    "CustomRule",
    "MetricRule",
    "RuleState",
    "SeriesState",
    "check_url",
    "duration_text",
    "mapping_arg",
    "str_map",
    "validate_name",
]

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
AGGREGATES = ("avg", "max", "min", "increase")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,199}")
_NAME_RULE = (
    "must start with a letter or '_' and hold only letters, digits, '_', '.', ':' and '-' (at most 200 characters)"
)


class RuleState(TextEnum):
    """The states of a rule for one series (equal to their names in lower case: ``"pending"``...)."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


_RANK = {RuleState.INACTIVE: 0, RuleState.PENDING: 1, RuleState.FIRING: 2}


@dataclass
class SeriesState:
    """Where one rule stands for one series."""

    state: RuleState = RuleState.INACTIVE
    since: float = 0.0  # when the condition started to hold (pending) or the alert fired
    cleared_since: float | None = None  # firing, but the condition stopped holding at this time
    value: float | None = None
    last_sample: float = 0.0
    alert_id: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


def validate_name(what: str, name: object) -> str:
    """Check a rule or alert name; ``DefinitionError``/``TypeError`` naming it otherwise."""
    return check_name(what, name, _NAME, _NAME_RULE, error=DefinitionError)


def _number(what: str, value: object, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number; got {type(value).__name__} {safe_repr(value)}")
    number = finite_float(value)  # None for NaN, infinities and ints beyond the float range
    if number is None or (minimum is not None and number < minimum):
        bound = f" >= {minimum:g}" if minimum is not None else ""
        raise DefinitionError(f"{what} must be a finite number{bound}; got {safe_repr(value)}")
    return number


def str_map(what: str, value: object) -> dict[str, str]:
    """Check a mapping of str to str (labels, annotations); ``TypeError`` naming it otherwise."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise TypeError(f"{what} must be a mapping of str to str; got {safe_repr(value)}")
    return dict(value)


def mapping_arg(what: str, value: object) -> dict[Any, Any]:
    """``value`` (a mapping or None) as a new dict; ``TypeError`` naming it otherwise."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a mapping or None; got {safe_repr(value)}")
    return dict(value)


def check_url(what: str, value: object) -> str:
    """An empty str or an absolute http(s) URL (a link Alertmanager accepts).

    Raises:
        TypeError: not a str. DefinitionError: not an absolute http(s) URL, naming it.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str; got {safe_repr(value)}")
    if value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise DefinitionError(f"{what} must be an absolute http:// or https:// URL or ''; got {safe_repr(value)}")
    return value


def duration_text(seconds: float) -> str:
    """A window as Prometheus writes durations: ``1h``, ``5m``, ``90s``, ``1.5s``."""
    for size, unit in ((86_400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _plain(number: float) -> str:
    """A threshold as it would be typed, never in exponent form: ``0.00002``, ``90``, ``1500000``."""
    text = format(Decimal(repr(number)), "f")
    return text[:-2] if text.endswith(".0") else text


def _as_value(number: int | float) -> float:
    """A condition's value as a float: an int beyond the float range becomes an infinity of its sign."""
    try:
        return float(number)
    except OverflowError:
        return math.inf if number > 0 else -math.inf


@dataclass
class _RuleBase:
    name: str
    description: str
    severity: AlertSeverity
    category: str | None
    duration: float
    labels: dict[str, str]
    annotations: dict[str, str]
    keep_firing_for: float
    generator_url: str = ""  # the alerts' generatorURL: a link to where they come from (dashboard, runbook)
    enabled: bool = True
    states: dict[Any, SeriesState] = field(default_factory=dict)
    errors: int = 0
    last_error: str | None = None
    last_value: float | None = None  # the value judged most recently (any series), whether it held or not

    def _check_common(self) -> None:
        validate_name("rule name", self.name)
        if not isinstance(self.description, str):
            raise TypeError(f"description must be a str; got {safe_repr(self.description)}")
        self.severity = AlertSeverity.parse(self.severity)
        check_text("category", self.category)
        self.duration = _number("duration", self.duration, minimum=0)
        self.keep_firing_for = _number("keep_firing_for", self.keep_firing_for, minimum=0)
        self.labels = str_map("labels", self.labels)
        self.annotations = str_map("annotations", self.annotations)
        self.generator_url = check_url("generator_url", self.generator_url)

    @property
    def state(self) -> RuleState:
        """The most advanced state over the rule's series (``firing`` > ``pending`` > ``inactive``)."""
        return max((s.state for s in self.states.values()), key=_RANK.__getitem__, default=RuleState.INACTIVE)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description with the current state."""
        return {
            "name": self.name,
            "description": self.description,
            "severity": self.severity.label,
            "category": self.category,
            "duration": self.duration,
            "keep_firing_for": self.keep_firing_for,
            "labels": self.labels,
            "annotations": self.annotations,
            "enabled": self.enabled,
            "state": self.state.value,
            "last_value": self.last_value,
            "generator_url": self.generator_url,
            "errors": self.errors,
            "last_error": self.last_error,
        }


@dataclass
class MetricRule(_RuleBase):
    """Fire when ``metric_name`` (or its ``aggregate`` over ``window`` seconds) compares true with ``threshold``.

    With several series (attribute sets) under the metric, each is judged on its own and fires its own alert,
    labelled with its attributes; ``attributes`` restricts the rule to matching series.
    `AlertManager.add_metric_rule` makes one (its arguments are these attributes, documented there).

    Attributes:
        name: the rule's name and its alerts' ``alertname``.
        description: what the alerts say.
        severity: the alerts' severity.
        category: the alerts' category, or None.
        duration: seconds the condition must hold before the alert fires (Prometheus' ``for``).
        labels: extra labels of the alerts.
        annotations: extra annotations of the alerts.
        keep_firing_for: seconds an alert stays firing after the condition stops holding.
        generator_url: the alerts' ``generatorURL``, or ``""``.
        enabled: whether the rule is evaluated (`AlertManager.disable_rule`, `AlertManager.enable_rule`).
        states: where the rule stands for each series it watches (see `RuleState`).
        errors: how many times judging a sample failed.
        last_error: the last failure's message, or None.
        last_value: the value judged most recently (any series), whether the condition held or not.
        metric_name: the metric the rule watches.
        threshold: the value the metric is compared with.
        operator: ``>``, ``>=``, ``<``, ``<=``, ``==`` or ``!=``.
        clear_threshold: the value a firing alert must pass to resolve, or None (``threshold``).
        aggregate: ``avg``, ``max``, ``min`` or ``increase`` over ``window``, or None (each sample).
        window: seconds ``aggregate`` looks back, or None.
        attributes: only the series with these attributes are judged.
        test: the comparison ``operator`` names, set from it.

    Raises:
        DefinitionError: a bad definition (see `AlertManager.add_metric_rule`), naming the value.
        ValueError: an unknown severity.
        TypeError: a field of the wrong type, naming it.
    """

    metric_name: str = ""
    threshold: float = 0.0
    operator: str = ">"
    clear_threshold: float | None = None
    aggregate: str | None = None
    window: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    test: Callable[[float, float], bool] = field(default=OPERATORS[">"], repr=False)

    def __post_init__(self) -> None:
        self._check_common()
        if not isinstance(self.metric_name, str) or not self.metric_name:
            raise DefinitionError(f"metric_name must be a non-empty str; got {safe_repr(self.metric_name)}")
        self.threshold = _number("threshold", self.threshold)
        if not isinstance(self.operator, str) or self.operator not in OPERATORS:
            allowed = ", ".join(f"'{o}'" for o in OPERATORS)
            raise DefinitionError(f"operator must be one of {allowed}; got {safe_repr(self.operator)}")
        self.test = OPERATORS[self.operator]
        if self.clear_threshold is not None:
            self.clear_threshold = _number("clear_threshold", self.clear_threshold)
            if self.operator in ("==", "!="):
                got = f"got {self.operator!r}"
                raise DefinitionError(f"clear_threshold needs an ordering operator (>, >=, <, <=); {got}")
        if self.aggregate is not None:
            if not isinstance(self.aggregate, str) or self.aggregate not in AGGREGATES:
                allowed = ", ".join(AGGREGATES)
                raise DefinitionError(f"aggregate must be one of {allowed} or None; got {safe_repr(self.aggregate)}")
            # "increase": the rise of a cumulative counter over the window (e.g. spend in the last hour)
            if self.window is None:
                got = f"aggregate={self.aggregate!r}, window=None"
                raise DefinitionError(f"aggregate needs window (seconds > 0); got {got}")
        if self.window is not None:
            window = _number("window", self.window, minimum=0)
            if window == 0:
                raise DefinitionError(f"window must be > 0 seconds; got {safe_repr(self.window)}")
            self.window = min(window, MAX_WINDOW)  # longer reaches past every sample just the same
        # the series filter: like a sample's attributes (str keys; str, bool, int or finite float values)
        self.attributes = check_attributes(self.attributes)

    def holds(self, value: float, firing: bool) -> bool:
        """Whether the condition holds for a value (against ``clear_threshold`` while firing).

        Args:
            value: the metric's value (or its aggregate over ``window``).
            firing: whether the series' alert is firing.

        Returns:
            True when ``value`` compares true with the threshold that applies.
        """
        if firing and self.clear_threshold is not None:
            return self.test(value, self.clear_threshold)
        return self.test(value, self.threshold)

    @property
    def condition_text(self) -> str:
        """What the rule judges, as text: ``cpu.percent > 90``, ``increase(zgen.llm.cost[1h]) > 0.05``.

        The series filter is written as ``{key="value"}``, a window aggregate as ``aggregate(metric[window])``
        and a clear threshold after the condition (``, clears at 80``).
        """
        selector = ",".join(f"{k}={json.dumps(str(v))}" for k, v in sorted(self.attributes.items()))
        judged = f"{self.metric_name}{{{selector}}}" if selector else self.metric_name
        if self.aggregate is not None:
            judged = f"{self.aggregate}({judged}[{duration_text(self.window or 0)}])"
        clears = f", clears at {_plain(self.clear_threshold)}" if self.clear_threshold is not None else ""
        return f"{judged} {self.operator} {_plain(self.threshold)}{clears}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description with the current state, as the HTTP API and the alerts page show it.

        Returns:
            The rule's settings, ``type`` (``"metric"``), ``condition`` (`condition_text`), ``state``,
                ``last_value``, ``errors`` and ``last_error``.
        """
        return {
            **super().to_dict(),
            "type": "metric",
            "condition": self.condition_text,
            "metric_name": self.metric_name,
            "threshold": self.threshold,
            "operator": self.operator,
            "clear_threshold": self.clear_threshold,
            "aggregate": self.aggregate,
            "window": self.window,
            "attributes": self.attributes,
        }


@dataclass
class CustomRule(_RuleBase):
    """Fire when ``condition()`` returns something truthy, evaluated at every tick of the alert manager.

    The condition may return a bool, a number (truthy when non-zero, kept as the alert's value) or a
    ``(bool, value)`` pair. An exception marks the rule as erroring (counted, logged) without stopping others.
    It runs on a thread of its own (`conditions`); one still running when its tick is
    over is skipped (``overrun`` is True until it returns, ``overruns`` counts the ticks it missed).
    `AlertManager.add_rule` makes one (its arguments are these attributes, documented there).

    Attributes:
        name: the rule's name and its alerts' ``alertname``.
        description: what the alerts say.
        severity: the alerts' severity.
        category: the alerts' category, or None.
        duration: seconds the condition must hold before the alert fires (Prometheus' ``for``).
        labels: extra labels of the alerts.
        annotations: extra annotations of the alerts.
        keep_firing_for: seconds an alert stays firing after the condition stops holding.
        generator_url: the alerts' ``generatorURL``, or ``""``.
        enabled: whether the rule is evaluated (`AlertManager.disable_rule`, `AlertManager.enable_rule`).
        states: where the rule stands (one entry at most: a custom rule has one series).
        errors: how many times the condition raised or returned a bad value.
        last_error: the last failure's message, or None.
        last_value: the value the condition gave most recently, or None.
        condition: called with no arguments at every tick; see `evaluate` for what it may return.
        overrun: whether the condition is still running past its tick.
        overruns: how many ticks it missed by running past one.

    Raises:
        DefinitionError: a bad definition (see `AlertManager.add_rule`), naming the value.
        ValueError: an unknown severity.
        TypeError: a condition that is not callable, or a field of the wrong type, naming it.
    """

    condition: Callable[[], Any] = field(default=lambda: False)
    overrun: bool = False
    overruns: int = 0

    def __post_init__(self) -> None:
        self._check_common()
        if not callable(self.condition):
            raise TypeError(f"condition must be callable; got {safe_repr(self.condition)}")

    def evaluate(self) -> tuple[bool, float | None]:
        """Run the condition once, on the calling thread (the alert manager runs it on a thread of its own).

        Returns:
            ``(holds, value)``: a number gives its truth and itself as the value, a ``(holds, value)`` pair is
                taken as it is, anything else (a bool...) gives its truth and no value.

        Raises:
            TypeError: the condition returned a ``(holds, value)`` pair whose value is not a number.
            Exception: whatever the condition raises.
        """
        result = self.condition()
        if isinstance(result, tuple) and len(result) == 2:
            holds, value = result
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise TypeError(
                    f"condition of rule {self.name!r} returned a value that is not a number: {safe_repr(value)}"
                )
            return bool(holds), None if value is None else _as_value(value)
        if isinstance(result, (int, float)) and not isinstance(result, bool):
            return bool(result), _as_value(result)
        return bool(result), None

    @property
    def condition_text(self) -> str:
        """What the rule judges, as text: ``custom check health_probe()`` (the condition's name)."""
        name = getattr(self.condition, "__qualname__", None) or type(self.condition).__qualname__
        return f"custom check {name}()"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description with the current state, as the HTTP API and the alerts page show it.

        Returns:
            The rule's settings, ``type`` (``"custom"``), ``condition`` (`condition_text`), ``state``,
                ``last_value``, ``errors``, ``last_error``, ``overrun`` and ``overruns``.
        """
        return {**super().to_dict(), "type": "custom", "condition": self.condition_text, "overrun": self.overrun,
                "overruns": self.overruns}  # fmt: skip
