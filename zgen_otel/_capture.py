"""How zgen_otel sees the program's ``logging`` records without changing what its logging does.

Python prints a record with its last-resort handler (``logging.lastResort``: the message on stderr, WARNING
and above) only while no handler exists on the way from the logger to the root (``Logger.callHandlers``), and
``logging.basicConfig()`` does nothing once the root logger has a handler. A handler of zgen_otel's on the root
would change both: a program that never configured logging would stop printing its warnings. So zgen_otel
adds no handler. While a `LogCapture` runs, ``Logger.callHandlers`` first keeps each record that propagates
to the root logger (its cheap fields and formatted message, into the ring of the local view and the queue of
the OTLP export), then passes it on to the handlers exactly as before.

Records below a logger's effective level are never created. When capture starts while the root logger has no
handler but OpenTelemetry ones (Python's default set-up, or ``opentelemetry-instrument``'s handler) and a
level above ``ZGEN_OTEL_LOG_LEVEL``, the root's level is lowered to just below that level (INFO: 19), so INFO
records are created. A record that exists only because of that (``Logger.makeRecord`` notes it) is kept and
handed to no handler at all, so every handler, the last-resort one included, receives exactly the records it
received before. Once the program sets the root's level itself, its level stands and is not lowered again;
at the end of capture the root gets its level back unless the program changed it meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import traceback
import weakref
from collections.abc import Callable
from typing import Any

from opentelemetry import trace

from zgen_otel._buffers import LogBuffer
from zgen_otel._records import CapturedLog
from zgen_otel._ring import Ring
from zgen_otel._sdk import context_slot, handler_exports
from zgen_otel._util import safe_repr

__all__ = ["LogCapture", "is_otel_handler", "other_otel_handler"]

# What the capturing methods call on: Logger's own methods, or whatever replaced them before capture started.
_call_handlers: Callable[[logging.Logger, logging.LogRecord], None] = logging.Logger.callHandlers
_make_record: Callable[..., logging.LogRecord] = logging.Logger.makeRecord
_active: LogCapture | None = None
_install_lock = threading.Lock()

# The attributes every plain record has: the rest are the ``extra`` fields (and what record factories add).
_PLAIN = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_PLAIN_SIZE = len(_PLAIN) - 2


def is_otel_handler(handler: logging.Handler) -> bool:
    """Whether ``handler`` is an OpenTelemetry logging handler (the SDK's, or the logging instrumentation's).

    Such a handler exports records over OTel instead of showing them: it is not the program's own output.
    """
    return any(
        cls.__name__ == "LoggingHandler" and cls.__module__.startswith("opentelemetry.")
        for cls in type(handler).__mro__
    )


def other_otel_handler() -> logging.Handler | None:
    """An OpenTelemetry logging handler on the root logger that exports (``opentelemetry-instrument``'s), or None.

    One whose records go nowhere (no SDK ``LoggerProvider`` behind it) does not count.
    """
    return next((h for h in logging.getLogger().handlers if is_otel_handler(h) and handler_exports(h)), None)


def _exception(exc_info: Any) -> dict[str, Any]:
    """The ``exception.*`` attributes of a record's ``exc_info`` (as the OTel logging handler names them)."""
    kind, value, tb = exc_info
    found: dict[str, Any] = {}
    if kind is not None:
        found["exception.type"] = kind.__name__
    if value is not None:
        found["exception.message"] = str(value)
    if tb is not None:
        found["exception.stacktrace"] = "".join(traceback.format_exception(kind, value, tb))
    return found


class LogCapture:
    """Keeps every record at ``level`` and above that goes through ``Logger.callHandlers`` to the root, while it runs.

    Args:
        level: the lowest level kept (a ``logging`` level number).
        buffer: the ring of the local view (None: none).
        outbox: the queue the OTLP export drains (None: no OTLP export of logs).
    """

    def __init__(self, level: int, buffer: LogBuffer | None, outbox: Ring[CapturedLog] | None) -> None:
        self.level = level
        self._keepers = [q.append for q in (buffer, outbox) if q is not None]
        slot = context_slot()
        self._context: Callable[[], Any] | None = slot[0].get if slot else None
        self._span_key = slot[1] if slot else ""
        # Set while the root's level is lowered: records below ``hidden_below`` from loggers that take the
        # root's level exist only for capture; ``makeRecord`` puts them in ``hidden``.
        self.hidden_below = 0
        self.hidden: weakref.WeakSet[logging.LogRecord] = weakref.WeakSet()
        self._root_level = logging.NOTSET  # the root's own level, given back at the end
        self._lowered = logging.NOTSET  # the level set on the root

    # -- life cycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start capturing (replacing any other capture), lowering the root's level where that is invisible."""
        global _active, _call_handlers, _make_record
        with _install_lock:
            if logging.Logger.callHandlers is not _capturing_call_handlers:
                _call_handlers = logging.Logger.callHandlers
                logging.Logger.callHandlers = _capturing_call_handlers  # type: ignore[method-assign]
            if logging.Logger.makeRecord is not _capturing_make_record:
                _make_record = logging.Logger.makeRecord
                logging.Logger.makeRecord = _capturing_make_record  # type: ignore[method-assign]
            _active = self
        root = logging.getLogger()
        if root.level > self.level and all(is_otel_handler(h) for h in root.handlers):
            self._root_level, self._lowered = root.level, self.level - 1
            self.hidden_below = root.level
            root.setLevel(self._lowered)

    def stop(self) -> None:
        """Stop capturing; give the root its level back unless the program changed it meanwhile.

        Logger's methods get back what they were, unless something replaced them after capture started (that
        replacement may call the capturing ones, which then only pass records on).
        """
        global _active
        with _install_lock:
            if _active is self:
                _active = None
                if logging.Logger.callHandlers is _capturing_call_handlers:
                    logging.Logger.callHandlers = _call_handlers  # type: ignore[method-assign,assignment]
                if logging.Logger.makeRecord is _capturing_make_record:
                    logging.Logger.makeRecord = _make_record  # type: ignore[method-assign]
        root = logging.getLogger()
        if self._lowered and root.level == self._lowered:
            root.setLevel(self._root_level)
        self.hidden_below = 0

    # -- the hot path -----------------------------------------------------------------------------------------
    def keep(self, record: logging.LogRecord) -> None:
        """Keep ``record``: its cheap fields, the message formatted now (its arguments may change later)."""
        try:
            entry = CapturedLog(record.created, record.levelno, record.levelname, record.name, record.getMessage(),
                                self._span(), self._attributes(record))  # fmt: skip
        except Exception as exc:  # a bad format string or argument: the program's handlers report it themselves
            message = f"{safe_repr(record.msg)} (unformattable: {type(exc).__name__})"
            entry = CapturedLog(record.created, record.levelno, record.levelname, record.name, message, None, None)
        for keep in self._keepers:
            keep(entry)

    def _span(self) -> trace.SpanContext | None:
        """The context of the span current on this thread, or None outside a valid span."""
        if self._context is not None:
            span = self._context().get(self._span_key)
            if span is None:
                return None
        else:
            span = trace.get_current_span()
        context: trace.SpanContext = span.get_span_context()
        return context if context.is_valid else None

    @staticmethod
    def _attributes(record: logging.LogRecord) -> dict[str, Any] | None:
        """The record's ``extra`` fields and ``exception.*`` attributes; None when it has neither."""
        fields = record.__dict__
        found = None
        if len(fields) > _PLAIN_SIZE:
            found = {k: v for k, v in fields.items() if k not in _PLAIN} or None
        if record.exc_info:
            found = {**(found or {}), **_exception(record.exc_info)}
        return found

    def only_for_capture(self, logger: logging.Logger) -> bool:
        """Whether a record of ``logger`` below ``hidden_below`` exists only because the root's level is lowered.

        True when ``logger`` takes its level from the root and the root still has the level zgen_otel set.
        Once the program sets the root's level itself, its level stands: nothing is hidden from then on.
        """
        root = logging.root
        if root.level != self._lowered:
            self.hidden_below = 0
            return False
        node: logging.Logger | None = logger
        while node is not None:
            if node.level:
                return node is root
            node = node.parent
        return False


def _reaches_root(logger: logging.Logger) -> bool:
    """Whether records of ``logger`` propagate to the root logger (what a handler on the root would receive)."""
    root = logging.root
    node: logging.Logger | None = logger
    while node is not root:
        if node is None or not node.propagate:
            return False
        node = node.parent
    return True


def _capturing_make_record(self: logging.Logger, name: str, level: int, *args: Any, **kwargs: Any) -> logging.LogRecord:
    """``Logger.makeRecord``, noting a record that exists only for capture (see `LogCapture.only_for_capture`)."""
    record = _make_record(self, name, level, *args, **kwargs)
    capture = _active
    if capture is not None and level < capture.hidden_below and capture.only_for_capture(self):
        with contextlib.suppress(TypeError):  # a record class without weak references: handed on as usual
            capture.hidden.add(record)
    return record


def _capturing_call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
    """``Logger.callHandlers``: keep the record, then hand it to the handlers as before, unless it is hidden."""
    capture = _active
    if capture is not None:
        level = record.levelno
        if level >= capture.level and _reaches_root(self):
            capture.keep(record)
        if level < capture.hidden_below and record in capture.hidden:
            return
    _call_handlers(self, record)
