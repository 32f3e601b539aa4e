"""The SQLite file zgen_otel writes (the store's persistence and the alert history share it).

Its schema, and how to check, claim, open and let go of it.

Checked before use (`StoreFile`): a SQLite database that passes ``PRAGMA quick_check``, holds only
zgen_otel's tables with their columns and a schema version this release reads, and can be written; anything
else is a `ConfigError` naming the path and the problem. Claimed by one process at a time, through an
exclusive ``flock`` on ``<path>.lock`` (which holds the owner's pid), so two processes never merge their series
into one file; the runtimes of one process (the old and the new one across ``configure()``) share the claim,
and a forked child lets go of the copy it inherited. Without ``flock`` (Windows) files are not claimed.

Both writers open the file the same way (`open_database`): write-ahead log (a process killed mid-write
reopens intact, and a reader never blocks the writer), ``synchronous=NORMAL`` (safe with WAL: a crash of the
process loses nothing committed), autocommit (each writer opens its own transactions), usable from any thread
(each writer serialises its own writes). A forked child must neither use nor close a connection it
inherited: it lets go of it with `detach`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass

from zgen_otel._fork import abandon, fork_safe_lock
from zgen_otel.exceptions import ConfigError

try:
    import fcntl
except ImportError:  # Windows: no flock, no claim
    fcntl = None  # type: ignore[assignment]

__all__ = ["SCHEMA_VERSION", "StoreFile", "detach", "open_database"]

# Every table of the file: the store's series, raw points and rolled-up buckets, then the alert history.
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS series (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, attributes TEXT NOT NULL, unit TEXT NOT NULL, category TEXT,
        UNIQUE (name, attributes))""",
    "CREATE TABLE IF NOT EXISTS points (series_id INTEGER NOT NULL, ts REAL NOT NULL, value REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS points_by_time ON points (ts)",
    """CREATE TABLE IF NOT EXISTS rollups (
        series_id INTEGER NOT NULL, step REAL NOT NULL, ts REAL NOT NULL,
        min REAL NOT NULL, max REAL NOT NULL, sum REAL NOT NULL, count REAL NOT NULL,
        PRIMARY KEY (series_id, step, ts))""",
    "CREATE TABLE IF NOT EXISTS alerts (id TEXT PRIMARY KEY, starts_at REAL, body TEXT)",
)
SCHEMA_VERSION = 1  # PRAGMA user_version of the files this release writes (0: written before it was set)


def _tables(db: sqlite3.Connection) -> dict[str, tuple[str, ...]]:
    """The tables of a database and their column names."""
    names = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return {
        name: tuple(column for (column,) in db.execute("SELECT name FROM pragma_table_info(?)", (name,)))
        for (name,) in names.fetchall()
    }


def _schema_tables() -> dict[str, tuple[str, ...]]:
    """zgen_otel's tables and their columns, as `_SCHEMA` creates them."""
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        for statement in _SCHEMA:
            db.execute(statement)
        return _tables(db)


_OURS = _schema_tables()


def _error(path: str, problem: str) -> ConfigError:
    return ConfigError(f"store_path={path!r} cannot be used: {problem}")


def _problem(exc: sqlite3.Error) -> str:
    """What a SQLite error says about the file, in words."""
    code = getattr(exc, "sqlite_errorname", "")
    if code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
        return f"the file is not a SQLite database, or is damaged ({exc})"
    if code.startswith(("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_CANTOPEN", "SQLITE_AUTH")):
        return f"the file cannot be written ({exc}); check the permissions of the file and of its folder"
    if code.startswith("SQLITE_FULL"):
        return f"the file cannot be written: the disk is full ({exc})"
    return f"the file cannot be used ({exc})"


def _check(path: str) -> None:
    """Open the file (creating it if needed) and make sure zgen_otel can read and write it, or raise why not."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise _error(path, f"the folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise _error(path, "it is a folder, not a file")
    try:
        db = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise _error(path, _problem(exc)) from None
    with contextlib.closing(db):
        try:
            problem = _contents_problem(db)
            if problem is None:  # a real write, so a read-only file, folder or disk shows now, not at a flush
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.execute("COMMIT")
        except sqlite3.Error as exc:
            problem = _problem(exc)
            with contextlib.suppress(sqlite3.Error):
                if db.in_transaction:
                    db.execute("ROLLBACK")
    if problem is not None:
        raise _error(path, problem)


def _contents_problem(db: sqlite3.Connection) -> str | None:
    """What makes a database unfit to be zgen_otel's store file (damage, other tables, a newer schema), or None."""
    damage = [line for (line,) in db.execute("PRAGMA quick_check(3)")]
    if damage != ["ok"]:
        return f"the file is damaged (PRAGMA quick_check: {'; '.join(damage)})"
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        return f"the file was written by a newer zgen_otel (schema version {version}; this one reads {SCHEMA_VERSION})"
    found = _tables(db)
    foreign = sorted(set(found) - set(_OURS))
    if foreign:
        return (f"the file holds tables zgen_otel does not write ({', '.join(foreign)}): another program's "
                "database? Give zgen_otel a file of its own")  # fmt: skip
    for table, columns in found.items():
        if columns != _OURS[table]:
            ours = ", ".join(_OURS[table])
            return f"the file's table {table!r} has the columns ({', '.join(columns)}), not zgen_otel's ({ours})"
    return None


@dataclass
class _Claim:
    """This process's flock on one lock file, shared by the `StoreFile` objects that hold it."""

    fd: int
    holders: int = 1


_claims: dict[str, _Claim] = {}  # lock-file path -> claim
_claims_lock = fork_safe_lock()


def _holder(fd: int) -> str:
    """The pid written in a lock file by the process holding it, or 'unknown'."""
    with contextlib.suppress(OSError):
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return text
    return "unknown"


def _claim(path: str) -> str | None:
    """Take (or share, within this process) the lock on ``path``; return the lock file, None without flock."""
    if fcntl is None:
        return None
    lock_path = os.path.realpath(path) + ".lock"
    with _claims_lock:
        claim = _claims.get(lock_path)
        if claim is not None:
            claim.holders += 1
            return lock_path
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise _error(path, f"its lock file {lock_path!r} cannot be created ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(fd)
            os.close(fd)
            raise _error(path, f"the file is in use by another process (pid {holder}, holding {lock_path!r}); "
                               "give each process a file of its own") from None  # fmt: skip
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _claims[lock_path] = _Claim(fd)
        return lock_path


def _unclaim(lock_path: str) -> None:
    with _claims_lock:
        claim = _claims.get(lock_path)
        if claim is None:
            return
        claim.holders -= 1
        if claim.holders == 0:
            del _claims[lock_path]
            os.close(claim.fd)  # closing the last descriptor releases the flock


def _forget_claims_in_child() -> None:
    """In a forked child: the locks belong to the parent; close the descriptors it inherited.

    That leaves the parent's lock in place: an flock goes with the last descriptor, never with a close in
    another process (unlocking would release it for the parent too).
    """
    for claim in _claims.values():
        with contextlib.suppress(OSError):
            os.close(claim.fd)
    _claims.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_claims_in_child)


class StoreFile:
    """The store file at ``path``, claimed by this process and checked, until `release`.

    Args:
        path: the SQLite file (created when missing).

    Raises:
        ConfigError: naming the path and the problem: another process holds the file; its folder does not
            exist; it is not a SQLite database, or is damaged; it holds another program's tables or a newer
            zgen_otel's schema; it cannot be written.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._pid = os.getpid()
        self._lock_path = _claim(path)
        try:
            _check(path)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Give the claim up (once; in a forked child the claim was never this process's: nothing to do)."""
        if self._lock_path is not None and self._pid == os.getpid():
            _unclaim(self._lock_path)
        self._lock_path = None


def open_database(path: str) -> sqlite3.Connection:
    """Open (creating it and its tables if needed) the store file at ``path`` in WAL mode for one of the writers.

    Args:
        path: the file's path; `StoreFile` checks it beyond what opening it does.

    Returns:
        An autocommit connection usable from any thread; the caller serialises its writes.

    Raises:
        ConfigError: naming the path, when the file cannot be opened or is not a SQLite database.
    """
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            db.execute(statement)
    except sqlite3.Error as exc:
        db.close()
        raise _error(path, _problem(exc)) from None
    return db


def detach(db: sqlite3.Connection) -> None:
    """In a forked child: let go of a connection inherited from the parent, without using or closing it.

    Closing it could checkpoint or delete the parent's write-ahead log; the connection is kept referenced
    (so never garbage-collected and closed) for the life of the child. The caller stops using it.
    """
    abandon(db)
