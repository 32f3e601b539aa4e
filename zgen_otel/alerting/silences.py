"""Silences: label matchers with an expiry that mute the notifications (not the state) of matching alerts."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zgen_otel._fork import fork_safe_lock
from zgen_otel._util import safe_repr
from zgen_otel._validate import positive_seconds
from zgen_otel.exceptions import DefinitionError

__all__ = ["Silence", "SilenceRegistry"]


@dataclass
class Silence:
    """Mutes notifications (not state) of alerts whose labels match every matcher, until ``ends_at``.

    A matcher value is an exact label value, or a compiled ``re.Pattern`` matched against the whole value.
    `AlertManager.add_silence` makes one; times are Unix seconds.

    Attributes:
        id: its unique id (32 hex digits), which `AlertManager.remove_silence` takes.
        matchers: label name to the exact value or ``re.Pattern`` the alert's label must have.
        starts_at: when it starts muting.
        ends_at: when it expires.
        comment: why it was added.
        created_by: who added it, or None.
    """

    id: str
    matchers: dict[str, str | re.Pattern[str]]
    starts_at: float
    ends_at: float
    comment: str = ""
    created_by: str | None = None

    def matches(self, labels: Mapping[str, str], now: float) -> bool:
        """Whether this silence mutes an alert with these labels at this time.

        Args:
            labels: the alert's labels, as `Alert.all_labels` gives them.
            now: the time (Unix seconds).

        Returns:
            True when ``now`` is within the silence and every matcher matches its label.
        """
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
        """The JSON form, as the HTTP API shows it.

        Returns:
            ``id``, ``matchers`` (a pattern as its text), ``startsAt`` and ``endsAt`` (Unix seconds), ``comment``,
                ``createdBy``.
        """
        matchers = {k: (v.pattern if isinstance(v, re.Pattern) else v) for k, v in self.matchers.items()}
        return {
            "id": self.id,
            "matchers": matchers,
            "startsAt": self.starts_at,
            "endsAt": self.ends_at,
            "comment": self.comment,
            "createdBy": self.created_by,
        }


class SilenceRegistry:
    """The silences of one alert manager, by id; expired ones are forgotten when the list is read."""

    def __init__(self) -> None:
        self._silences: dict[str, Silence] = {}
        self._lock = fork_safe_lock()

    def add(
        self,
        matchers: Mapping[str, str | re.Pattern[str]],
        duration: float,
        now: float,
        comment: str = "",
        created_by: str | None = None,
    ) -> Silence:
        """Add a silence active from ``now`` for ``duration`` seconds.

        Raises:
            DefinitionError: no matchers, or a matcher that is not a label name to a str or ``re.Pattern``.
            ValueError, TypeError: a duration that is not a number of seconds > 0.
        """
        if (
            not isinstance(matchers, Mapping)
            or not matchers
            or not all(isinstance(k, str) and isinstance(v, (str, re.Pattern)) for k, v in matchers.items())
        ):
            raise DefinitionError(
                f"matchers must map label names to a value or a re.Pattern; got {safe_repr(matchers)}"
            )
        seconds = positive_seconds("duration", duration)
        silence = Silence(uuid.uuid4().hex, dict(matchers), now, now + seconds, comment, created_by)
        with self._lock:
            self._silences[silence.id] = silence
        return silence

    def remove(self, silence_id: str) -> bool:
        """Remove a silence; return whether it existed."""
        if not isinstance(silence_id, str):
            return False  # never a silence's id
        with self._lock:
            return self._silences.pop(silence_id, None) is not None

    def active(self, now: float) -> list[Silence]:
        """The silences that have not expired at ``now`` (expired ones are dropped)."""
        with self._lock:
            for sid in [s.id for s in self._silences.values() if s.ends_at <= now]:
                del self._silences[sid]
            return list(self._silences.values())

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        """Whether a silence active at ``now`` matches ``labels``."""
        with self._lock:
            silences = list(self._silences.values())
        return any(s.matches(labels, now) for s in silences)
