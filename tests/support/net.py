"""Ports on 127.0.0.1: one nothing listens on, and one that accepts connections and never answers."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (just now): connections to it are refused until a test binds it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def hanging_port(backlog: int = 16) -> Iterator[int]:
    """A port of 127.0.0.1 that accepts connections (in the kernel's backlog) and never answers, while in use."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(backlog)
        port: int = sock.getsockname()[1]
        yield port
