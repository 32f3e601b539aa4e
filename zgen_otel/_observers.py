"""The observers of a metric store: persistence sinks, alert watchers and ``register_callback`` listeners.

`Observers` is the part of `MetricStore` that hands stored samples on. A
series only calls `Observers.dispatch` while its ``watched`` flag is set, so a sample of a metric
nobody observes costs nothing here.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from zgen_otel._util import RateLimitedLogger

if TYPE_CHECKING:
    from zgen_otel._series import AttributeValue, Series

__all__ = ["Listener", "Observers", "Watcher"]

_warn = RateLimitedLogger(logging.getLogger("zgen_otel.store"))

Listener = Callable[[str, float, float, "Mapping[str, AttributeValue]"], None]
Watcher = Callable[["Series", float, float], None]


class Observers:
    """Sinks, watchers and listeners of a store, and the ``watched`` flag of each series they want.

    The store that inherits this provides ``_lock`` (guarding the tables) and ``_by_name`` (series by name).
    """

    _lock: threading.Lock
    _by_name: dict[str, list[Series]]

    def __init__(self) -> None:
        self._exact_listeners: dict[str, list[Listener]] = {}
        self._pattern_listeners: list[tuple[str, Listener]] = []
        self._listener_cache: dict[str, tuple[Listener, ...]] = {}
        self._sinks: list[Watcher] = []
        self._watchers: dict[str, tuple[Watcher, ...]] = {}

    def dispatch(self, series: Series, ts: float, value: float) -> None:
        """Hand a stored sample to the sinks, the watchers and the listeners of its metric name."""
        for sink in self._sinks:
            sink(series, ts, value)
        name = series.name
        watchers = self._watchers.get(name)
        if watchers:
            for watcher in watchers:
                watcher(series, ts, value)
        listeners = self._listener_cache.get(name)
        if listeners is None:
            listeners = self._listeners_for(name)
        if listeners:
            self._notify(listeners, name, value, ts, series.attributes)

    def add_sink(self, sink: Watcher) -> None:
        """Call ``sink(series, timestamp, value)`` for every stored sample (used by persistence)."""
        with self._lock:
            self._sinks.append(sink)
            self._rewatch(None)

    def watch(self, name: str, watcher: Watcher) -> None:
        """Call ``watcher(series, timestamp, value)`` on every sample of the metric ``name`` (exact name).

        For in-process consumers such as the alert evaluator: the watcher gets the series itself, and must
        not raise (it runs on the recording thread).
        """
        with self._lock:
            self._watchers[name] = (*self._watchers.get(name, ()), watcher)
            self._rewatch((name,))

    def unwatch(self, name: str, watcher: Watcher) -> None:
        """Stop calling a watcher added with `watch`."""
        with self._lock:
            rest = tuple(w for w in self._watchers.get(name, ()) if w != watcher)
            if rest:
                self._watchers[name] = rest
            else:
                self._watchers.pop(name, None)
            self._rewatch((name,))

    # -- listeners ---------------------------------------------------------------------------------
    def subscribe(self, name_or_pattern: str, listener: Listener) -> None:
        """Call ``listener(name, value, timestamp, attributes)`` on every sample of matching metrics.

        ``name_or_pattern`` is an exact metric name or a glob (``system.*``, ``agent.?_latency``).
        """
        with self._lock:
            if any(c in name_or_pattern for c in "*?["):
                self._pattern_listeners.append((name_or_pattern, listener))
                self._rewatch(None)
            else:
                self._exact_listeners.setdefault(name_or_pattern, []).append(listener)
                self._rewatch((name_or_pattern,))
            self._listener_cache = {}

    def unsubscribe(self, name_or_pattern: str, listener: Listener) -> bool:
        """Remove a listener added with `subscribe`; return whether it was there."""
        with self._lock:
            found = False
            exact = self._exact_listeners.get(name_or_pattern, [])
            if listener in exact:
                exact.remove(listener)
                found = True
            elif (name_or_pattern, listener) in self._pattern_listeners:
                self._pattern_listeners.remove((name_or_pattern, listener))
                found = True
            self._listener_cache = {}
            if found:
                self._rewatch(None)
            return found

    def _listeners_for(self, name: str) -> tuple[Listener, ...]:
        with self._lock:
            result = self._match_listeners(name)
            self._listener_cache[name] = result
            return result

    def _match_listeners(self, name: str) -> tuple[Listener, ...]:
        found = list(self._exact_listeners.get(name, ()))
        found += [fn for pattern, fn in self._pattern_listeners if fnmatch.fnmatchcase(name, pattern)]
        return tuple(found)

    def _wanted(self, name: str) -> bool:
        """Whether a sample of ``name`` goes to `dispatch` (the store's lock is held)."""
        return bool(self._sinks) or name in self._watchers or bool(self._match_listeners(name))

    def _rewatch(self, names: Iterable[str] | None) -> None:
        """Refresh the ``watched`` flag of the series of ``names`` (all when None; the lock is held).

        The flag lives on each series so that a sample of a metric nobody watches costs no
        `dispatch` call, even while alert rules watch other metrics.
        """
        for name in self._by_name if names is None else names:
            wanted = self._wanted(name)
            for series in self._by_name.get(name, ()):
                series.watched = wanted

    @staticmethod
    def _notify(
        listeners: Iterable[Listener], name: str, value: float, ts: float, attrs: Mapping[str, AttributeValue]
    ) -> None:
        for fn in listeners:
            try:
                fn(name, value, ts, attrs)
            except Exception:
                _warn.exception(f"listener:{name}", "metric callback %r for %r raised; ignored", fn, name)
