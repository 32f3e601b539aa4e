"""What zgen_otel does around ``os.fork()`` (multiprocessing's fork start method, pre-fork servers).

CPython forks only the calling thread. A lock another thread held at that moment stays locked forever in
the child, and none of the parent's background threads exist there. So:

- locks that guard only small bookkeeping come from `fork_safe_lock` and are fresh in every child;
- locks that guard data (the store, the tracker's statistics, the alert state, the SQLite writer) are taken
  by the runtime before the fork and released after it on both sides, so the child gets consistent data;
- the package has one fork hook, in ``zgen_otel._runtime``: it calls `reinit_locks` first;
- the runtime restarts its background work in the child (see ``Runtime.after_fork``), and resources that
  belong to the parent (an open SQLite connection) are abandoned there with `abandon`.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

__all__ = ["abandon", "fork_safe_lock", "reinit_locks"]

_locks: weakref.WeakSet[Any] = weakref.WeakSet()
_abandoned: list[Any] = []


def fork_safe_lock() -> threading.Lock:
    """A ``threading.Lock`` that is unlocked in a forked child whoever held it at the fork."""
    lock = threading.Lock()
    _locks.add(lock)
    return lock


def abandon(resource: Any) -> None:
    """Keep ``resource`` referenced and untouched for the life of this (child) process.

    An inherited SQLite connection must be neither used nor closed in the child: closing it could checkpoint
    or delete the parent's write-ahead log. Keeping a reference stops the garbage collector from closing it.
    """
    _abandoned.append(resource)


def reinit_locks() -> None:
    """In a forked child: unlock every lock from `fork_safe_lock` (called first by the runtime's fork hook)."""
    for lock in list(_locks):
        lock._at_fork_reinit()
