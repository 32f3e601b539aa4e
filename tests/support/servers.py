"""An ASGI app (the monitoring API, an app with the middleware) served by uvicorn on 127.0.0.1 in a thread."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn

from tests.support.waiting import wait_for


class Server:
    """uvicorn on 127.0.0.1, an ephemeral port, in a thread; started by the constructor, ended by :meth:`stop`."""

    def __init__(self, app: Any, **options: Any) -> None:
        """Serve ``app``; ``options`` go to ``uvicorn.Config`` (e.g. ``**zgen_otel.http.serve_options()``).

        The app's lifespan is off unless ``options`` say ``lifespan="on"``.
        """
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(app, **{"log_level": "warning", "lifespan": "off", **options}))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._sock = sock
        self._thread.start()
        wait_for(lambda: self._server.started, timeout=10, what=f"uvicorn to serve on port {self.port}")

    def stop(self) -> None:
        """Ask uvicorn to exit, wait for its thread and close the socket."""
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()


@contextlib.contextmanager
def serving(app: Any, **options: Any) -> Iterator[Server]:
    """A :class:`Server` for ``app`` (``options`` for ``uvicorn.Config``) while in use."""
    srv = Server(app, **options)
    try:
        yield srv
    finally:
        srv.stop()
