"""The dispatcher: delivers notifications to the channels off the caller's thread (queue, group, retry, count).

The dispatcher never blocks the caller: events go into a bounded queue; a worker thread groups bursts
(``group_wait``), hands one batch per channel to that channel's own worker, which calls the channel's
``notify`` and retries failures with exponential backoff. What does not fit or keeps failing is dropped,
counted (`DeliveryStats`) and logged. A failing channel never affects the others. The channel's
``on_tick`` (Alertmanager's re-send) runs on that worker too, never on the evaluator's thread.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from zgen_otel._fork import fork_safe_lock
from zgen_otel._validate import check_count, non_negative_seconds
from zgen_otel.alerting.channel import Notification, Notifier, NotifyResult
from zgen_otel.alerting.model import Alert

__all__ = ["DeliveryStats", "Dispatcher"]

_log = logging.getLogger(__name__)


@dataclass
class DeliveryStats:
    """The dispatcher's counters: notifications queued, delivered, dropped; retries; failures per channel."""

    queued: int = 0
    delivered: int = 0
    dropped: int = 0
    retries: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=fork_safe_lock, repr=False)

    def snapshot(self) -> dict[str, Any]:
        """The counters as a JSON-ready dict."""
        with self.lock:
            return {"queued": self.queued, "delivered": self.delivered, "dropped": self.dropped,
                    "retries": self.retries, "failures": dict(self.failures)}  # fmt: skip

    def add(self, name: str, n: int = 1, channel: str | None = None) -> None:
        """Thread-safe increment of a counter (or of a channel's failure count)."""
        with self.lock:
            if channel is not None:
                self.failures[channel] = self.failures.get(channel, 0) + n
            else:
                setattr(self, name, getattr(self, name) + n)


class _Worker:
    """A daemon thread with its own bounded queue: one per channel, plus one that groups bursts.

    ``on_stop`` runs on the thread when it reaches the stop marker, after everything queued before it.
    """

    def __init__(
        self, name: str, handle: Callable[[Any], None], maxsize: int, on_stop: Callable[[], None] | None = None
    ) -> None:
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self._handle = handle
        self._on_stop = on_stop
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is None:
                    if self._on_stop is not None:
                        self._on_stop()
                    return
                self._handle(item)
            except Exception:  # a worker must outlive any bug
                _log.exception("zgen_otel: notification worker failed")
            finally:
                self.queue.task_done()

    def stop(self, deadline: float) -> None:
        """Ask the worker to stop after what is queued; wait for it until ``deadline`` (``time.monotonic``)."""
        with contextlib.suppress(queue.Full):
            self.queue.put(None, timeout=max(0.0, deadline - time.monotonic()))
        self._thread.join(max(0.0, deadline - time.monotonic()))


@dataclass(frozen=True)
class _Tick:
    """A channel worker's item: call the channel's ``on_tick`` with these active alerts."""

    active: Sequence[Alert]


class Dispatcher:
    """Deliver notifications to channels off the caller's thread: queue, group, retry, count.

    One worker groups bursts of notifications (``group_wait``) into a batch per channel; each channel has a
    worker of its own, so a slow or hanging channel delays only itself.

    Args:
        group_wait: seconds to collect a burst into one batch per channel (0: no grouping).
        max_queue: the size of each queue (notifications waiting to be grouped, then batches waiting per
            channel); what does not fit is dropped, counted and logged.
        max_retries: attempts after the first failure; the n-th retry waits ``backoff * 2 ** (n - 1)`` seconds.
    """

    def __init__(
        self, *, group_wait: float = 1.0, max_queue: int = 1000, max_retries: int = 3, backoff: float = 0.5
    ) -> None:
        self.channels: list[Notifier] = []
        self.group_wait: float
        self.max_queue: int
        self.max_retries: int
        self.backoff: float
        self.stats = DeliveryStats()
        self._grouper: _Worker | None = None
        self._workers: dict[int, _Worker] = {}
        self._ticking: set[int] = set()  # channels with a tick queued: a slow channel gets one, not a pile
        self._start_lock = fork_safe_lock()
        self.configure(group_wait=group_wait, max_queue=max_queue, max_retries=max_retries, backoff=backoff)

    def configure(
        self,
        *,
        group_wait: float | None = None,
        max_queue: int | None = None,
        max_retries: int | None = None,
        backoff: float | None = None,
    ) -> None:
        """Change the delivery settings (None keeps one); they apply to what is queued from now on.

        Raises:
            ValueError: a value out of range (nothing is changed then), naming it and what is allowed.
        """
        wait = self.group_wait if group_wait is None else non_negative_seconds("group_wait", group_wait)
        size = self.max_queue if max_queue is None else check_count("max_queue", max_queue, minimum=1)
        retries = self.max_retries if max_retries is None else check_count("max_retries", max_retries, minimum=0)
        delay = self.backoff if backoff is None else non_negative_seconds("backoff", backoff)
        self.group_wait, self.max_queue, self.max_retries, self.backoff = wait, size, retries, delay
        with self._start_lock:
            for worker in self._all_workers():
                worker.queue.maxsize = size

    def _all_workers(self) -> list[_Worker]:
        """The grouper (once started) and each channel's worker."""
        grouper = [] if self._grouper is None else [self._grouper]
        return grouper + list(self._workers.values())

    def after_fork_in_child(self) -> None:
        """Forget the parent's workers (their threads do not exist here); new ones start on the next submit.

        The locks are fork-safe: already fresh here, whoever held them at the fork.
        """
        self._grouper = None
        self._workers = {}
        self._ticking = set()

    def submit(self, notification: Notification) -> None:
        """Queue a notification; never blocks (drops and counts when the queue is full)."""
        if self._grouper is None:
            with self._start_lock:
                if self._grouper is None:
                    self._grouper = _Worker("zgen-otel-notify", self._group, self.max_queue)
        try:
            self._grouper.queue.put_nowait(notification)
            self.stats.add("queued")
        except queue.Full:
            self.stats.add("dropped")
            _log.warning("zgen_otel: notification queue full; dropped %s for %s", notification.event,
                         notification.alert["name"])  # fmt: skip

    def _group(self, first: Notification) -> None:
        """Collect the burst that started with ``first`` and hand each channel its batch."""
        assert self._grouper is not None
        batch = [first]
        deadline = time.monotonic() + self.group_wait
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = self._grouper.queue.get(timeout=left)
            except queue.Empty:
                break
            self._grouper.queue.task_done()
            if item is None:  # shutting down: deliver what we have, then let the worker stop
                self._grouper.queue.put_nowait(None)
                break
            batch.append(item)
        for channel in list(self.channels):
            wanted = [n for n in batch if channel.accepts(n)]
            if wanted:
                try:
                    self._worker(channel).queue.put_nowait(wanted)
                except queue.Full:
                    self._drop(channel, wanted)

    def tick(self, active: Sequence[Alert]) -> None:
        """Hand each channel that has an ``on_tick`` the active alerts, on its own worker; never blocks.

        A channel whose previous tick is still queued or running (a hanging peer) skips this one.
        """
        for channel in list(self.channels):
            if type(channel).on_tick is Notifier.on_tick or id(channel) in self._ticking:
                continue
            self._ticking.add(id(channel))
            try:
                self._worker(channel).queue.put_nowait(_Tick(active))
            except queue.Full:
                self._ticking.discard(id(channel))

    def _worker(self, channel: Notifier) -> _Worker:
        worker = self._workers.get(id(channel))
        if worker is None:
            with self._start_lock:  # configure() resizes the queues under it
                worker = self._workers[id(channel)] = _Worker(
                    f"zgen-otel-notify-{channel.name}",
                    lambda item: self._handle(channel, item),
                    self.max_queue,
                    on_stop=channel.shutdown,
                )
        return worker

    def _handle(self, channel: Notifier, item: list[Notification] | _Tick) -> None:
        """One item of a channel's worker: a batch to deliver, or a tick."""
        if not isinstance(item, _Tick):
            self._send(channel, item)
            return
        self._ticking.discard(id(channel))
        try:
            channel.on_tick(item.active)
        except Exception:
            _log.exception("zgen_otel: on_tick of channel %s failed", channel.name)

    def _drop(self, channel: Notifier, batch: list[Notification]) -> None:
        self.stats.add("dropped", len(batch))
        _log.warning("zgen_otel: channel %s is backed up; dropped %d notification(s)", channel.name, len(batch))

    def _send(self, channel: Notifier, batch: list[Notification]) -> None:
        delay = self.backoff
        for attempt in range(self.max_retries + 1):
            problem = _attempt(channel, batch)
            if problem is None:
                channel.sent += len(batch)
                self.stats.add("delivered", len(batch))
                return
            channel.failed += 1
            self.stats.add("failures", channel=channel.name)
            if attempt == self.max_retries:
                self.stats.add("dropped", len(batch))
                _log.error("zgen_otel: channel %s failed %d times (%s); dropped %d notification(s)",
                           channel.name, attempt + 1, problem, len(batch))  # fmt: skip
                return
            self.stats.add("retries")
            time.sleep(delay)
            delay *= 2

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far was delivered or dropped, then flush each channel.

        Returns:
            True unless the timeout passed or a channel's ``force_flush`` failed.
        """
        deadline = time.monotonic() + timeout
        while any(w.queue.unfinished_tasks for w in self._all_workers()):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        flushed = True
        for channel in list(self.channels):
            try:
                flushed = channel.force_flush(max(0.0, deadline - time.monotonic())) and flushed
            except Exception:
                _log.exception("zgen_otel: flushing channel %s failed", channel.name)
                flushed = False
        return flushed

    def shutdown(self, grace: float = 3.0) -> bool:
        """Deliver what is queued, stop the workers and shut the channels down, all within ``grace`` seconds.

        Each channel's ``shutdown`` runs on its worker after its last batch. A channel still busy when the grace
        is over (a peer that never answers) is left behind: its worker is a daemon thread, and what it still
        holds is counted as dropped.

        Returns:
            True when every channel finished within the grace.
        """
        deadline = time.monotonic() + grace
        if self._grouper is not None:
            self._grouper.stop(deadline)
        workers = [self._worker(channel) for channel in list(self.channels)]  # each shuts its channel down
        finished = True
        for worker in workers:
            worker.stop(deadline)
            if worker.queue.unfinished_tasks:
                finished = False
                left = sum(len(i) for i in list(worker.queue.queue) if isinstance(i, list))
                self.stats.add("dropped", left)
        if not finished:
            _log.warning("zgen_otel: notification channels still busy after the %g s shutdown grace; left behind",
                         grace)  # fmt: skip
        return finished


def _attempt(channel: Notifier, batch: list[Notification]) -> str | None:
    """Hand ``batch`` to ``channel`` once: None when delivered, else what went wrong (for the log)."""
    try:
        result: object = channel.notify(batch)  # a channel of an older interface may return a bool
    except Exception as exc:
        return str(exc) or type(exc).__name__
    if result is NotifyResult.SUCCESS or result is True:  # True: a channel written for the older bool notify()
        return None
    if result is NotifyResult.FAILURE or result is False:
        return "the channel reported a failure"
    return f"notify() returned a {type(result).__name__}, not a NotifyResult"
