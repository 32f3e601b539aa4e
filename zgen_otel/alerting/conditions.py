"""The condition runner: custom rule conditions run on threads of their own, each with a deadline.

A custom condition is user code (a health probe over HTTP, a query): it never runs under the alert manager's
lock nor on the recording thread. At each tick `ConditionRunner.run` starts each condition on a daemon
thread and waits for them until the tick's deadline; the alert manager then takes its lock only to apply
the results. A condition still running at the deadline *overruns*: its rule is marked (``overrun``,
``overruns``), a rate-limited warning is logged, and it is skipped, not waited for. A condition still running
at the next tick is not started a second time (like a Prometheus rule group that misses its iterations), so
a condition that never returns holds one thread, never more.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from zgen_otel._util import RateLimitedLogger
from zgen_otel.alerting.rules import CustomRule

__all__ = ["ConditionRunner", "Outcome"]

_warn = RateLimitedLogger(logging.getLogger(__name__))

#: What a finished condition gave: ``(holds, value)``, or the exception it raised.
Outcome = tuple[bool, float | None] | Exception


class _Run:
    """One run of one rule's condition, on a daemon thread of its own."""

    def __init__(self, rule: CustomRule, done: threading.Condition) -> None:
        self.rule = rule
        self.started = time.monotonic()
        self.outcome: Outcome | None = None
        self._done = done
        threading.Thread(target=self._run, name=f"zgen-otel-condition-{rule.name}", daemon=True).start()

    def _run(self) -> None:
        try:
            outcome: Outcome = self.rule.evaluate()
        except Exception as exc:  # reported as the rule's error by the evaluator
            outcome = exc
        with self._done:
            self.outcome = outcome
            self._done.notify_all()


class ConditionRunner:
    """Runs the custom conditions of one alert manager off its lock, each bounded by the tick's deadline."""

    def __init__(self) -> None:
        self._running: dict[int, _Run] = {}  # id(rule) -> its run still going after an earlier deadline
        self._done = threading.Condition(threading.Lock())
        self._closed = False

    def run(self, rules: Iterable[CustomRule], timeout: float) -> dict[int, Outcome]:
        """Run the conditions of ``rules`` at once and wait up to ``timeout`` seconds for them.

        Returns:
            By ``id(rule)``: the outcome of each condition that finished in time. The others (overrunning,
                or still running from an earlier tick) are marked on their rule and left out.
        """
        runs: list[_Run] = []
        for rule in rules:
            earlier = self._running.get(id(rule))
            if earlier is not None and earlier.outcome is None:
                self._overrun(rule, earlier)  # still running: not started twice
                continue
            runs.append(_Run(rule, self._done))
        deadline = time.monotonic() + timeout
        with self._done:
            while not self._closed and any(r.outcome is None for r in runs):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._done.wait(left)
        results: dict[int, Outcome] = {}
        for run in runs:
            if run.outcome is None:
                self._running[id(run.rule)] = run
                self._overrun(run.rule, run)
            else:
                self._running.pop(id(run.rule), None)
                run.rule.overrun = False
                results[id(run.rule)] = run.outcome
        return results

    def forget(self, rule: CustomRule) -> None:
        """Drop what is known of a removed rule (a run still going finishes unseen)."""
        self._running.pop(id(rule), None)

    @staticmethod
    def _overrun(rule: CustomRule, run: _Run) -> None:
        rule.overrun = True
        rule.overruns += 1
        took = time.monotonic() - run.started
        message = "zgen_otel: the condition of alert rule %r has run for %.1f s, past its tick; skipped till it returns"
        _warn.warning(f"overrun:{rule.name}", message, rule.name, took)

    def close(self) -> None:
        """Stop waiting for conditions (at shutdown): a tick in progress returns at once."""
        with self._done:
            self._closed = True
            self._done.notify_all()

    def after_fork_in_child(self) -> None:
        """In a forked child, where the parent's condition threads do not exist: forget their runs."""
        self._running = {}
        self._done = threading.Condition(threading.Lock())
