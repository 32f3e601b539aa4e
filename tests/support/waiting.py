"""Waiting for what another thread or process does, by polling a condition instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_for(probe: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll ``probe`` every 20 ms until it returns something truthy (returned); fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def poll_until(found: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    """Poll ``found`` every ``interval`` s until it is true or ``timeout`` s passed; return whether it was.

    Unlike :func:`wait_for` it never fails the test itself: the caller's assertions after it say what is missing
    (for slow peers such as Prometheus, polled every half second).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found():
            return True
        time.sleep(interval)
    return False
