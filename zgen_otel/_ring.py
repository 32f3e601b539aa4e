"""A bounded buffer of the newest items that counts what it pushes out: the span and log rings use it."""

from __future__ import annotations

import collections
from typing import Generic, TypeVar

__all__ = ["Ring"]

T = TypeVar("T")


class Ring(Generic[T]):
    """The last ``capacity`` items appended, oldest first; each item pushed out of the full ring is counted.

    Appending is thread-safe (one ``deque.append``); the drop count may miss an increment under a race,
    which only makes a statistic approximate.

    Args:
        capacity: how many items the ring holds (at least 1).
    """

    __slots__ = ("dropped", "items")

    def __init__(self, capacity: int) -> None:
        self.items: collections.deque[T] = collections.deque(maxlen=capacity)
        self.dropped = 0

    def append(self, item: T) -> None:
        """Keep ``item``; when the ring is full, the oldest item leaves and is counted in `dropped`."""
        items = self.items
        if len(items) == items.maxlen:
            self.dropped += 1
        items.append(item)

    def snapshot(self) -> list[T]:
        """The items now in the ring, oldest first (a copy, safe while other threads append)."""
        while True:
            try:
                return list(self.items)
            except RuntimeError:  # another thread appended while copying: copy again
                continue

    def stats(self, noun: str) -> dict[str, int]:
        """``{noun: items held, "capacity": ..., "dropped": ...}`` (``noun`` names the items, e.g. ``"spans"``)."""
        return {noun: len(self.items), "capacity": self.items.maxlen or 0, "dropped": self.dropped}
