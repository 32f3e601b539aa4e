"""Optional SQLite persistence of the local store, so history survives a restart.

Samples are queued by a store sink and written by a background thread every ``flush_interval`` seconds,
one transaction per flush, in WAL mode: a process killed mid-write reopens intact and loses at most the
last unflushed interval. The file mirrors the store's tiers: raw rows older than the raw window are rolled
up into per-minute rows by SQL (min, max, sum, count), minute rows into hour rows, and rows past the
retention are deleted, so the file stays bounded like the memory.

The queue (the backlog) is bounded too: when the file cannot be written (a full disk), at most
``max_backlog`` samples wait for it; newer ones are dropped from the file (never from memory) and counted,
and writing resumes by itself at the next flush that succeeds. A queue half full wakes the writer early.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import sqlite3
import threading
import time
from typing import Any

from zgen_otel._fork import fork_safe_lock
from zgen_otel._sqlite import detach, open_database
from zgen_otel.exceptions import ConfigError
from zgen_otel.store import RESTORED, MetricStore, Series

__all__ = ["SQLitePersistence", "persistence_stats"]

_log = logging.getLogger(__name__)

# Rows per INSERT statement. ``executemany`` gives the GIL away and takes it back for every row: with a busy
# thread in the host, each take waits for a switch interval (5 ms), and 50,000 rows took minutes. A statement of
# many rows gives it away once. (SQLite before 3.32 allows 999 parameters a statement.)
_ROWS_PER_INSERT = 10_000 if sqlite3.sqlite_version_info >= (3, 32) else 333


def _insert_points(db: sqlite3.Connection, rows: list[tuple[int, float, float]]) -> None:
    """Insert ``(series_id, ts, value)`` rows into ``points``, many rows a statement."""
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        values = ",".join(["(?,?,?)"] * len(chunk))
        db.execute(f"INSERT INTO points (series_id, ts, value) VALUES {values}", [x for row in chunk for x in row])


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
    """Keep a `MetricStore` in a SQLite file: load it at start, append to it in the background.

    Args:
        path: the store file, claimed and checked by the caller (``_sqlite.StoreFile``).
        store: the store to load and mirror.
        flush_interval: seconds between writes.
        max_backlog: samples kept waiting for the file at most; newer ones are dropped (counted).

    Raises:
        ConfigError: naming the path, when the file cannot be opened or read back.
    """

    def __init__(self, path: str, store: MetricStore, flush_interval: float = 5.0, max_backlog: int = 100_000) -> None:
        self.path = path
        self._store = store
        self._flush_interval = flush_interval
        self._max_backlog = max_backlog
        self._wake_at = max(1, max_backlog // 2)  # a queue this long wakes the writer before its interval
        self._pending: collections.deque[tuple[Series, float, float]] = collections.deque()
        self._in_flight = 0  # samples taken from the queue by the write under way
        self._ids: dict[Series, int] = {}
        self._db_lock = threading.Lock()
        self._count_lock = fork_safe_lock()
        self.written = 0  # samples in the file
        self.dropped = 0  # samples never written: the backlog was full
        self.failed_flushes = 0
        self.last_error: str | None = None  # why the last write failed; None once one succeeds
        self.last_success_at: float | None = None
        self._db = open_database(path)
        # True in a forked child: the file belongs to the parent, whose store the child's started as a copy
        # of; two processes appending the same series would interleave their samples into one.
        self.detached = False
        try:
            self._load()
        except (sqlite3.Error, ValueError, TypeError, KeyError) as exc:
            self._db.close()
            raise ConfigError(f"store_path={path!r} cannot be used: reading it back failed ({exc})") from None
        store.add_sink(self._enqueue)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="zgen-otel-store-flush", daemon=True)
        self._thread.start()

    def _enqueue(self, series: Series, ts: float, value: float) -> None:
        if self.detached:
            return
        if len(self._pending) + self._in_flight >= self._wake_at and self._crowded():
            return
        self._pending.append((series, ts, value))

    def _crowded(self) -> bool:
        """The queue is half full: wake the writer (unless writing fails); True when full (count the drop)."""
        if len(self._pending) + self._in_flight < self._max_backlog:
            if self.last_error is None and not self._wake.is_set():
                self._wake.set()
            return False
        with self._count_lock:
            self.dropped += 1
        return True

    def stats(self) -> dict[str, Any]:
        """The writer's state for the runtime's status: see `persistence_stats`."""
        return {
            "path": self.path,
            "writing": not self.detached,
            "backlog": len(self._pending) + self._in_flight,
            "max_backlog": self._max_backlog,
            "written": self.written,
            "dropped": self.dropped,
            "failed_flushes": self.failed_flushes,
            "last_error": self.last_error,
            "last_success_at": self.last_success_at,
        }

    def before_fork(self) -> None:
        """Hold the writer's lock, so no transaction is half done at the fork."""
        self._db_lock.acquire()

    def after_fork(self, child: bool) -> None:
        """Release the lock; a child leaves the file to the parent (see `detached`)."""
        self._db_lock.release()
        if child:
            self.detached = True
            self._pending.clear()
            detach(self._db)
            # No flusher runs here, and another thread of the parent may have held these events' locks.
            self._stop, self._wake = threading.Event(), threading.Event()

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

    def _series_id(self, series: Series, created: list[Series]) -> int:
        """The file's id of a series, inserting it when new (listed in ``created`` until the commit)."""
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
            created.append(series)
        return sid

    def flush(self) -> int:
        """Write queued samples and compact old rows in one transaction; return how many samples went.

        A failed write (a full disk) rolls back, keeps the samples queued for the next try (the newest
        past ``max_backlog`` are dropped, counted), logs one warning until a write succeeds again, and never
        raises.
        """
        if self.detached:
            return 0
        with self._db_lock:
            count = self._in_flight = len(self._pending)  # counted until written: the bound holds meanwhile
            batch = [self._pending.popleft() for _ in range(count)]
            created: list[Series] = []
            try:
                self._db.execute("BEGIN")
                _insert_points(self._db, [(self._series_id(s, created), ts, v) for s, ts, v in batch])
                self._compact()
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._failed(exc, batch, created)
                return 0
            finally:
                self._in_flight = 0
            self.written += len(batch)
            self.last_success_at = time.time()
            if self.last_error is not None:
                _log.warning("zgen_otel: writing the store to %s works again (%d samples dropped from the file so "
                             "far)", self.path, self.dropped)  # fmt: skip
                self.last_error = None
            return len(batch)

    def _failed(self, exc: sqlite3.Error, batch: list[tuple[Series, float, float]], created: list[Series]) -> None:
        """Roll a failed write back and queue its samples again, within the backlog's bound."""
        with contextlib.suppress(sqlite3.Error):
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        for series in created:  # their rows went with the rollback: a later id could name another series
            del self._ids[series]
        self._in_flight = 0  # then back in the queue (a moment under the count rather than over the bound)
        self._pending.extendleft(reversed(batch))  # oldest first again, before what came in meanwhile
        excess = len(self._pending) - self._max_backlog
        for _ in range(max(0, excess)):
            self._pending.pop()
        with self._count_lock:
            self.dropped += max(0, excess)
        self.failed_flushes += 1
        if self.last_error is None:
            _log.warning("zgen_otel: writing the store to %s failed (%s); keeping up to %d samples to retry every "
                         "%g s, dropping newer ones from the file (memory keeps them)",
                         self.path, exc, self._max_backlog, self._flush_interval)  # fmt: skip
        self.last_error = f"{type(exc).__name__}: {exc}"

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
        while not self._stop.is_set():
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the flusher must survive anything and keep the data queued
                _log.exception("zgen_otel: store flush failed")

    def close(self) -> None:
        """Stop the flusher, write what is queued and close the file."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        if self.detached:
            return
        self.flush()
        with self._db_lock:
            self._db.close()


def persistence_stats(persistence: SQLitePersistence | None, path: str | None, error: str | None) -> dict[str, Any]:
    """The store file's state for the runtime's status (the same keys whether a file is written or not).

    Args:
        persistence: the writer, or None when no file is written.
        path: the configured file (``store_path``), or None.
        error: why the configured file is not used (the runtime keeps its history in memory), or None.
    """
    if persistence is not None:
        return {**persistence.stats(), "error": error}
    idle = {"backlog": 0, "max_backlog": 0, "written": 0, "dropped": 0, "failed_flushes": 0}
    return {"path": path, "writing": False, **idle, "last_error": None, "last_success_at": None, "error": error}
