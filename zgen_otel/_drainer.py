"""A queue drained on a daemon thread of its own, on demand, at fork and at shutdown.

The tracked calls (`_tracker.PerformanceTracker`) and the captured log records (`_logship.LogShipper`) are both
appended on the caller's thread and processed here: every half second, whenever a reader calls `drain`, and a
last time at shutdown. `drain` runs under ``self._lock``, which is held across ``os.fork()``, so the child's
copy is consistent; the child leaves the parent's queue to the parent and starts a worker of its own.
"""

from __future__ import annotations

import threading

from zgen_otel._util import RateLimitedLogger

__all__ = ["Drainer"]

#: Seconds between two drains of the background worker.
INTERVAL = 0.5


class Drainer:
    """The worker, fork handling and shutdown shared by the queues drained in the background.

    A subclass implements `drain` (under ``self._lock``) and `clear_queue`, and calls ``super().__init__`` once
    its queue exists: the worker starts there.

    Args:
        thread_name: the worker thread's name (``zgen-otel-...``).
        warn: where a failing drain is logged (at most once a minute); the worker carries on.
        failure: what the warning says.
    """

    def __init__(self, thread_name: str, warn: RateLimitedLogger, failure: str) -> None:
        self._thread_name, self._warn, self._failure = thread_name, warn, failure
        self._lock = threading.Lock()
        self._start_worker()

    def drain(self) -> None:
        """Process everything queued now."""
        raise NotImplementedError

    def clear_queue(self) -> None:
        """Forget what is queued (a forked child's copy: the parent processes it)."""
        raise NotImplementedError

    def _start_worker(self) -> None:
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._worker.start()

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL):
            try:
                self.drain()
            except Exception:  # the worker must outlive any bug
                self._warn.exception("drain", self._failure)

    def before_fork(self) -> None:
        """Hold the drain lock across ``os.fork()``, so the child's copy is consistent."""
        self._lock.acquire()

    def after_fork(self, child: bool) -> None:
        """Release the lock; in the child, start a worker of its own and leave the parent's queue to the parent."""
        self._lock.release()
        if child:
            self.clear_queue()  # the parent processes these; the child would process them a second time
            self._start_worker()

    def shutdown(self) -> None:
        """Stop the worker and process what is queued."""
        self._stop.set()
        self._worker.join(timeout=5)
        self.drain()
