"""The OTel context, read and switched without the API's wrapper frames (a tracked call's hottest path).

The OTel API keeps the current context in a ``ContextVar`` owned by its default runtime context. Making a
span current through the public functions (``set_span_in_context`` + ``attach`` + ``detach``) costs six
Python calls around three ``ContextVar`` operations; `CURRENT` does the same three operations
directly. Where the runtime context is not the default one (``OTEL_PYTHON_CONTEXT``) or the API's internals
differ, `CURRENT` is a shim over the public functions, so behaviour never depends on this shortcut.
"""

from __future__ import annotations

from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace

from zgen_otel._sdk import context_slot

__all__ = ["CURRENT", "with_span"]


class _ContextSlot(Protocol):
    def get(self) -> otel_context.Context: ...

    def set(self, value: otel_context.Context) -> Any: ...

    def reset(self, token: Any) -> None: ...


class _PublicApi:
    """The same three operations through the public OTel API."""

    def get(self) -> otel_context.Context:
        return otel_context.get_current()

    def set(self, value: otel_context.Context) -> object:
        return otel_context.attach(value)

    def reset(self, token: Any) -> None:
        otel_context.detach(token)


def _find_slot() -> tuple[_ContextSlot, str | None]:
    found = context_slot()
    return (_PublicApi(), None) if found is None else found


CURRENT, _SPAN_KEY = _find_slot()


def with_span(span: trace.Span) -> otel_context.Context:
    """The current context with ``span`` as its current span (``trace.set_span_in_context``)."""
    if _SPAN_KEY is None:
        return trace.set_span_in_context(span)
    return otel_context.Context({**CURRENT.get(), _SPAN_KEY: span})
