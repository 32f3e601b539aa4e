"""The election of the one process per host (and service) that ships the host-wide system series over OTel.

Every process of a service reads CPU, memory, disks, network and GPUs into its own local store, and ships its
own process series over OTLP; the host-wide series ship from one of them only, the holder of an ``flock`` on
a lock file, so a backend that receives from every process gets them once. When it exits, another process
takes over at its next sweep. Without ``flock`` (Windows) every process ships them.
"""

from __future__ import annotations

import os
import re
import tempfile

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None  # type: ignore[assignment]

__all__ = ["HostLock", "default_host_lock"]


class HostLock:
    """Elects one process per host (and service) to ship the host-wide series, through an flock'ed file.

    Args:
        path: the lock file; None: this process always ships them.
    """

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = os.getpid()

    @property
    def held(self) -> bool:
        """Whether this process ships the host-wide series (trying to take the lock when it does not)."""
        if self.path is None or fcntl is None:
            return True
        if self._pid != os.getpid():  # forked: the inherited lock belongs to the parent
            self._fd, self._pid = None, os.getpid()
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def release(self) -> None:
        """Give the election up (at stop)."""
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None


def default_host_lock(service_name: str) -> str:
    """Name the lock file that elects the process shipping the host-wide series among those of one service.

    Args:
        service_name: the service whose processes share the election.

    Returns:
        A path in the temporary directory, with the service name made safe for a file name.
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", service_name)
    return os.path.join(tempfile.gettempdir(), f"zgen-otel-{safe}-host.lock")
