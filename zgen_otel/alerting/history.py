"""The alert history: alerts oldest first, bounded by count and age, mirrored in a SQLite file when one is given.

The file holds the same alerts, plus any active alert pushed out of the count (it must survive a restart).
A busy or failing file costs the mirror, never the alert state: the alert is written again on its next change.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections import deque
from typing import Any

from zgen_otel._sqlite import detach, open_database
from zgen_otel._util import RateLimitedLogger, safe_repr
from zgen_otel.alerting.model import Alert, AlertSeverity, AlertStatus

__all__ = ["AlertHistory"]

_warn = RateLimitedLogger(logging.getLogger(__name__))

_ACTIVE = "json_extract(body, '$.status') IN ('firing', 'acknowledged')"


class AlertHistory:
    """Alerts oldest first, at most ``limit`` of them; mirrored in the SQLite file at ``path`` when given.

    Not thread-safe: the alert manager calls it under its lock.

    Args:
        limit: alerts kept (the newest); an active alert pushed out stays in the file.
        path: the SQLite file (the store's file), or None for memory only.

    Raises:
        ConfigError: naming the path, when the file cannot be opened or is not a SQLite database.
    """

    def __init__(self, limit: int, path: str | None) -> None:
        self.items: deque[Alert] = deque(maxlen=limit)
        self._db: sqlite3.Connection | None = None
        if path:
            self._db = open_database(path)  # the store file, checked by the runtime (ConfigError naming it)

    def load(self) -> list[Alert]:
        """Read the alerts saved by an earlier run into the history and return them, oldest first."""
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
        """Append a new alert (the oldest goes when full; from the file too unless it is active)."""
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
        """Write an alert's current state to the file (nothing without a file)."""
        if self._db is None:
            return
        data = dict(vars(alert))
        data["severity"] = int(alert.severity)
        data["status"] = alert.status.value
        body = json.dumps(data, default=str)
        self._write("INSERT OR REPLACE INTO alerts (id, starts_at, body) VALUES (?, ?, ?)",
                    (alert.id, alert.starts_at, body))  # fmt: skip

    def query(
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
        level = None if severity is None else AlertSeverity.parse(severity)
        state = None if status is None else _status(status)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValueError(f"limit must be a whole number >= 0 or None; got {safe_repr(limit)}")
        since, until = _bound("since", since), _bound("until", until)
        found = [
            a
            for a in reversed(self.items)
            if (level is None or a.severity == level)
            and (category is None or a.category == category)
            and (state is None or a.status is state)
            and (since is None or a.starts_at >= since)
            and (until is None or a.starts_at <= until)
        ]
        return found if limit is None else found[:limit]

    def prune(self, cutoff: float) -> None:
        """Drop resolved alerts that started before ``cutoff`` (Unix seconds), in memory and in the file."""
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
        """Close the file (the history stays readable in memory)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def detach(self) -> None:
        """In a forked child: stop mirroring to the parent's file (kept in memory only from now on)."""
        if self._db is not None:
            detach(self._db)
            self._db = None


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


def _status(value: AlertStatus | str) -> AlertStatus:
    try:
        return AlertStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in AlertStatus)
        raise ValueError(f"status must be one of {allowed}; got {safe_repr(value)}") from None
