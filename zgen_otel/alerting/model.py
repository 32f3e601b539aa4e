"""Alerts: severity, status, and the Alert record in the Alertmanager v2 shape plus zgen_otel's fields."""

from __future__ import annotations

import enum
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zgen_otel._util import iso_utc, safe_repr
from zgen_otel.exceptions import DefinitionError

__all__ = ["Alert", "AlertSeverity", "AlertStatus", "TextEnum", "check_details", "fingerprint", "iso"]


class TextEnum(str, enum.Enum):
    """An enum whose members are their text: equal to it, written as it in JSON, ``str()`` and f-strings.

    The base of the alerting states that were plain strings (``RuleState``, ``NotificationEvent``...), so code
    comparing them with ``"firing"`` keeps working.
    """

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, format_spec: str) -> str:
        return format(str(self.value), format_spec)


class AlertSeverity(enum.IntEnum):
    """How bad an alert is; ordered, so ``severity >= AlertSeverity.WARNING`` works."""

    INFO = 10
    WARNING = 20
    ERROR = 30
    CRITICAL = 40

    @classmethod
    def parse(cls, value: object) -> AlertSeverity:
        """An ``AlertSeverity`` from itself or its name, in any case (``"warning"``, ``"WARNING"``).

        Args:
            value: an ``AlertSeverity`` or the name of one.

        Returns:
            The severity.

        Raises:
            ValueError: anything else, naming the allowed names.
        """
        if isinstance(value, AlertSeverity):
            return value
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        allowed = ", ".join(m.name for m in cls)
        raise ValueError(f"severity must be an AlertSeverity or one of {allowed}; got {safe_repr(value)}")

    @property
    def label(self) -> str:
        """The lower-case name used in labels (``severity="warning"``)."""
        return self.name.lower()


class AlertStatus(str, enum.Enum):
    """Where an alert is in its life."""

    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


def fingerprint(name: str, labels: Mapping[str, str]) -> str:
    """A stable 16-hex-digit identity of an alert name plus its labels (order-independent)."""
    body = json.dumps({"alertname": name, **labels}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def check_details(details: object) -> dict[str, Any]:
    """An alert's ``details`` (a mapping or None) as a new dict, checked to be writable as JSON.

    The alert's JSON form (API, history file, notifications) must be writable; values JSON has no form for
    are written as their ``str``.

    Raises:
        TypeError: not a mapping. DefinitionError: a value JSON cannot write (a cycle, a key of a bad type).
    """
    if details is None:
        return {}
    if not isinstance(details, Mapping):
        raise TypeError(f"details must be a mapping or None; got {safe_repr(details)}")
    try:
        json.dumps(dict(details), default=str)
    except (TypeError, ValueError, RecursionError) as exc:
        raise DefinitionError(f"details must be JSON-serialisable ({exc}); got {safe_repr(details)}") from None
    return dict(details)


def iso(ts: float | None) -> str | None:
    """RFC 3339 UTC time, as Alertmanager writes it, or None."""
    return None if ts is None else iso_utc(ts)


@dataclass
class Alert:
    """One alert: a firing (then maybe acknowledged, then resolved) occurrence of a condition.

    ``to_dict()`` gives the Alertmanager v2 fields (``labels`` with ``alertname`` and ``severity``,
    ``annotations``, ``startsAt``, ``endsAt``, ``generatorURL``, ``fingerprint``) plus zgen_otel's own.
    Alerts come from `AlertManager.trigger_alert` and from rules; read them, do not build them. Times are
    Unix seconds.

    Attributes:
        name: the alert's name (``alertname``): the rule's name for an alert a rule fired.
        description: what happened, for a person.
        severity: how bad it is.
        category: a free-form group (``"system"``, ``"cost"``), or None.
        labels: the user's labels (str to str); with the name they identify the alert (see `fingerprint`).
        annotations: the user's annotations (str to str), such as a runbook link.
        details: data about the occurrence (JSON-serialisable); a rule's alert holds the value that fired it
            (and a metric rule's metric, operator and threshold).
        starts_at: when it fired.
        id: its unique id (32 hex digits), which `AlertManager.get_alert` and the HTTP API take.
        status: firing, acknowledged or resolved.
        ends_at: when it resolved, or None while active.
        last_seen: when its condition was last seen holding (raised again, or judged by its rule), or None.
        occurrences: how many times it was raised while active (1 at first).
        acknowledged_at: when it was acknowledged, or None.
        acknowledged_by: who acknowledged it, or None.
        acknowledgement_note: the note given with the acknowledgement, or None.
        rule: the name of the rule that fired it, or None for one raised by hand.
        value: the value its rule judged (updated while the condition holds), or None.
        generator_url: its ``generatorURL``: a link to where it comes from, or ``""``.
    """

    name: str
    description: str
    severity: AlertSeverity
    category: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    details: dict[str, Any]
    starts_at: float
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: AlertStatus = AlertStatus.FIRING
    ends_at: float | None = None
    last_seen: float | None = None
    occurrences: int = 1
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    acknowledgement_note: str | None = None
    rule: str | None = None
    value: float | None = None
    generator_url: str = ""

    @property
    def fingerprint(self) -> str:
        """Stable identity of name + labels (the same alert firing again has the same fingerprint)."""
        return fingerprint(self.name, self.labels)

    @property
    def active(self) -> bool:
        """Firing or acknowledged (not resolved)."""
        return self.status is not AlertStatus.RESOLVED

    def all_labels(self) -> dict[str, str]:
        """Labels as Alertmanager sees them: what silences and channel label filters match.

        Returns:
            ``alertname``, ``severity``, ``category`` (when set) and the user's labels; a user's label of the
                same name as ``category`` wins over it.
        """
        labels = {"alertname": self.name, "severity": self.severity.label, **self.labels}
        if self.category:
            labels.setdefault("category", self.category)
        return labels

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, as the HTTP API, the history file and the notifications carry it.

        Returns:
            The Alertmanager v2 fields (``labels``, ``annotations``, ``startsAt``, ``endsAt``, ``generatorURL``,
                ``fingerprint``) plus zgen_otel's, with times as RFC 3339 UTC text.
        """
        return {
            "labels": self.all_labels(),
            "annotations": {"description": self.description, **self.annotations},
            "startsAt": iso(self.starts_at),
            "endsAt": iso(self.ends_at),
            "generatorURL": self.generator_url,
            "fingerprint": self.fingerprint,
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "severity": self.severity.label,
            "category": self.category,
            "status": self.status.value,
            "details": self.details,
            "occurrences": self.occurrences,
            "lastSeen": iso(self.last_seen),
            "acknowledgedAt": iso(self.acknowledged_at),
            "acknowledgedBy": self.acknowledged_by,
            "acknowledgementNote": self.acknowledgement_note,
            "rule": self.rule,
            "value": self.value,
        }
