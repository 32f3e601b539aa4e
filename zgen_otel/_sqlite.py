"""The SQLite files zgen_otel writes (the store's persistence, the alert history): how to open and let go of one.

Both writers open their file the same way: write-ahead log (a process killed mid-write reopens intact, and a
reader never blocks the writer), ``synchronous=NORMAL`` (safe with WAL: a crash of the process loses nothing
committed), autocommit (each writer opens its own transactions), usable from any thread (each writer
serialises its own writes). A forked child must neither use nor close a connection it inherited: it lets go
of it with :func:`detach`.
"""

from __future__ import annotations

import sqlite3

from zgen_otel._fork import abandon

__all__ = ["detach", "open_database"]


def open_database(path: str) -> sqlite3.Connection:
    """Open (creating it if needed) the SQLite file at ``path`` in WAL mode for one of zgen_otel's writers.

    Args:
        path: the file's path.

    Returns:
        An autocommit connection usable from any thread; the caller serialises its writes.

    Raises:
        sqlite3.Error: the file cannot be opened or is not a SQLite database.
    """
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def detach(db: sqlite3.Connection) -> None:
    """In a forked child: let go of a connection inherited from the parent, without using or closing it.

    Closing it could checkpoint or delete the parent's write-ahead log; the connection is kept referenced
    (so never garbage-collected and closed) for the life of the child. The caller stops using it.
    """
    abandon(db)
