"""Optional SQLite persistence of the local store, so history survives a restart.

Samples are queued by a store sink and written by a background thread every ``flush_interval`` seconds,
one transaction per flush, in WAL mode: a process killed mid-write reopens intact and loses at most the
last unflushed interval. The file mirrors the store's tiers: raw rows older than the raw window are rolled
up into per-minute rows by SQL (min, max, sum, count), minute rows into hour rows, and rows past the
retention are deleted, so the file stays bounded like the memory.
"""

from __future__ import annotations

import collections
import json
import logging
import sqlite3
import threading
from typing import Any

from zgen_otel._sqlite import detach, open_database
from zgen_otel.store import RESTORED, MetricStore, Series

__all__ = ["SQLitePersistence"]

_log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, attributes TEXT NOT NULL, unit TEXT NOT NULL, category TEXT,
    UNIQUE (name, attributes));
CREATE TABLE IF NOT EXISTS points (series_id INTEGER NOT NULL, ts REAL NOT NULL, value REAL NOT NULL);
CREATE INDEX IF NOT EXISTS points_by_time ON points (ts);
CREATE TABLE IF NOT EXISTS rollups (
    series_id INTEGER NOT NULL, step REAL NOT NULL, ts REAL NOT NULL,
    min REAL NOT NULL, max REAL NOT NULL, sum REAL NOT NULL, count REAL NOT NULL,
    PRIMARY KEY (series_id, step, ts));
"""

_ROLL = """
INSERT INTO rollups (series_id, step, ts, min, max, sum, count)
SELECT series_id, :to_step, CAST(ts / :to_step AS INTEGER) * :to_step, {lo}, {hi}, {total}, {n}
FROM {source} WHERE ts < :cutoff {where} GROUP BY series_id, CAST(ts / :to_step AS INTEGER)
ON CONFLICT (series_id, step, ts) DO UPDATE SET
    min = min(min, excluded.min), max = max(max, excluded.max),
    sum = sum + excluded.sum, count = count + excluded.count
"""
_ROLL_RAW = _ROLL.format(lo="min(value)", hi="max(value)", total="sum(value)", n="count(*)", source="points", where="")
_ROLL_MINUTES = _ROLL.format(
    lo="min(min)", hi="max(max)", total="sum(sum)", n="sum(count)", source="rollups", where="AND step = 60"
)


class SQLitePersistence:
    """Keep a :class:`MetricStore` in a SQLite file: load it at start, append to it in the background."""

    def __init__(self, path: str, store: MetricStore, flush_interval: float = 5.0) -> None:
        self.path = path
        self._store = store
        self._flush_interval = flush_interval
        self._pending: collections.deque[tuple[Series, float, float]] = collections.deque()
        self._ids: dict[Series, int] = {}
        self._db_lock = threading.Lock()
        self._db = open_database(path)
        self._db.executescript(_SCHEMA)
        self.flush_errors = 0
        # True in a forked child: the file belongs to the parent, whose store the child's started as a copy
        # of; two processes appending the same series would interleave their samples into one.
        self.detached = False
        self._load()
        store.add_sink(self._enqueue)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="zgen-otel-store-flush", daemon=True)
        self._thread.start()

    def _enqueue(self, series: Series, ts: float, value: float) -> None:
        if not self.detached:
            self._pending.append((series, ts, value))

    def before_fork(self) -> None:
        """Hold the writer's lock, so no transaction is half done at the fork."""
        self._db_lock.acquire()

    def after_fork(self, child: bool) -> None:
        """Release the lock; a child leaves the file to the parent (see :attr:`detached`)."""
        self._db_lock.release()
        if child:
            self.detached = True
            self._pending.clear()
            detach(self._db)

    def _load(self) -> None:
        """Read every series, rolled-up bucket and raw point back into the store."""
        by_id: dict[int, Series] = {}
        for sid, name, attributes, unit, category in self._db.execute(
            "SELECT id, name, attributes, unit, category FROM series"
        ):
            key = tuple(sorted((k, v) for k, v in json.loads(attributes).items()))
            series = self._store.get_or_create(name, key, unit, category, source=RESTORED)
            if series is not None and series.key == key:  # not folded into an overflow series
                by_id[sid] = series
                self._ids[series] = sid
        for sid, step, ts, lo, hi, total, n in self._db.execute(
            "SELECT series_id, step, ts, min, max, sum, count FROM rollups ORDER BY step DESC, ts"
        ):
            if sid in by_id:
                by_id[sid].add_bucket(step, ts, lo, hi, total, n)
        for sid, ts, value in self._db.execute("SELECT series_id, ts, value FROM points ORDER BY ts"):
            if sid in by_id:
                by_id[sid].append(ts, value)

    def _series_id(self, series: Series) -> int:
        sid = self._ids.get(series)
        if sid is None:
            attributes = json.dumps(dict(series.key), sort_keys=True)
            self._db.execute(
                "INSERT OR IGNORE INTO series (name, attributes, unit, category) VALUES (?, ?, ?, ?)",
                (series.name, attributes, series.unit, series.category),
            )
            row = self._db.execute(
                "SELECT id FROM series WHERE name = ? AND attributes = ?", (series.name, attributes)
            ).fetchone()
            sid = self._ids[series] = int(row[0])
        return sid

    def flush(self) -> int:
        """Write queued samples and compact old rows in one transaction; return how many samples went."""
        if self.detached:
            return 0
        with self._db_lock:
            batch: list[tuple[Series, float, float]] = []
            while self._pending:
                batch.append(self._pending.popleft())
            try:
                self._db.execute("BEGIN")
                rows = [(self._series_id(s), ts, v) for s, ts, v in batch]
                self._db.executemany("INSERT INTO points (series_id, ts, value) VALUES (?, ?, ?)", rows)
                self._compact()
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self._pending.extendleft(reversed(batch))  # keep accepted data for the next try
                self.flush_errors += 1
                _log.exception("zgen_otel: writing the store to %s failed; will retry", self.path)
                return 0
            return len(batch)

    def _compact(self) -> None:
        store = self._store
        now = store.clock()
        raw_cutoff = now - store.raw_window_ms / 1000
        raw_cutoff -= raw_cutoff % 60
        minute_cutoff = now - store.minute_window
        minute_cutoff -= minute_cutoff % 3600
        params: dict[str, Any] = {"to_step": 60.0, "cutoff": raw_cutoff}
        self._db.execute(_ROLL_RAW, params)
        self._db.execute("DELETE FROM points WHERE ts < ?", (raw_cutoff,))
        self._db.execute(_ROLL_MINUTES, {"to_step": 3600.0, "cutoff": minute_cutoff})
        self._db.execute("DELETE FROM rollups WHERE step = 60 AND ts < ?", (minute_cutoff,))
        oldest = now - store.retention_seconds
        self._db.execute("DELETE FROM points WHERE ts < ?", (oldest,))
        self._db.execute("DELETE FROM rollups WHERE ts + step <= ?", (oldest,))

    def _run(self) -> None:
        while not self._stop.wait(self._flush_interval):
            try:
                self.flush()
            except Exception:  # the flusher must survive anything and keep the data queued
                _log.exception("zgen_otel: store flush failed")

    def close(self) -> None:
        """Stop the flusher, write what is queued and close the file."""
        self._stop.set()
        self._thread.join(timeout=10)
        if self.detached:
            return
        self.flush()
        with self._db_lock:
            self._db.close()
