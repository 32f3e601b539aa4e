"""Where a server of the monitoring page listens, and which ``Host`` names it answers.

Shared by ``zgen-otel serve`` and `zgen_otel.start_server`. The rules: a loopback address needs nothing
more; any other address needs the API token (the caller refuses to start without one), and the ``Host`` names
it accepts are the named ones (else ``ZGEN_OTEL_ALLOWED_HOSTS``) plus the address itself. This module imports
neither FastAPI nor uvicorn.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections.abc import Sequence

from zgen_otel import _current
from zgen_otel.exceptions import ServerError

__all__ = ["BACKLOG", "WILDCARDS", "bind_socket", "hosts_to_allow", "is_loopback", "page_url"]

#: The addresses that bind every interface: they have no name of their own.
WILDCARDS = ("0.0.0.0", "::", "")
#: Connections the kernel queues before the server accepts them (uvicorn's default).
BACKLOG = 2048
_IN_USE = {errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", errno.EADDRINUSE)}


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback IP address (``127.0.0.0/8``, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def hosts_to_allow(host: str, named: Sequence[str]) -> list[str] | None:
    """The ``allowed_hosts`` of `zgen_otel.http.make_app` for a server bound to ``host``.

    On loopback: the ``named`` names, or None when there are none (the app then reads the runtime's
    ``allowed_hosts`` setting at each request). Elsewhere: the named names (else the setting), plus the bind
    address; a wildcard bind (``0.0.0.0``, ``::``) has no name of its own, so with no names it accepts any.
    """
    if is_loopback(host):
        return list(named) or None
    names = list(named or _current.get_runtime().settings.allowed_hosts)
    if host in WILDCARDS:
        return names or ["*"]
    return [*names, host]


def page_url(host: str, port: int) -> str:
    """The web page's address for a server on ``host:port``: a wildcard bind is shown as its loopback address."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/monitoring"


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening (port 0: a free one; ``getsockname()`` tells which).

    Raises:
        ServerError: the port is taken, or the address cannot be bound (the message names both and says
            what to do).
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        if os.name != "nt":  # reuse a port in TIME_WAIT; on Windows the option would share a port in use
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno in _IN_USE:
            raise ServerError(
                f"cannot serve the monitoring page on {host}:{port}: another program already uses port {port}. "
                "Pick another port (start_server(port=...) or ZGEN_OTEL_SERVER_PORT), or port 0 for a free one"
            ) from None
        raise ServerError(
            f"cannot serve the monitoring page on {host}:{port}: {exc.strerror or exc}. "
            "Use an address of this machine (127.0.0.1 by default) and a port from 1 to 65535 you may bind"
        ) from None
    return sock
