"""The errors zgen_otel raises for calls that can never work: catch `ZgenOtelError` for all of them.

Telemetry calls never raise into agent code for data that is only bad this time (a NaN, a full queue): that
is dropped, counted and logged. These errors are for definitions and settings that are wrong as written.
"""

from __future__ import annotations

__all__ = ["ConfigError", "DefinitionError", "NotFoundError", "ServerError", "ZgenOtelError"]


class ZgenOtelError(Exception):
    """The base of every error zgen_otel raises on purpose."""


class ConfigError(ZgenOtelError, ValueError):
    """A setting has a value that is not allowed; the message names the setting, the value and the rule."""


class DefinitionError(ZgenOtelError, ValueError):
    """A rule, dashboard, notification channel or other definition is not valid; the message says why."""


class ServerError(ZgenOtelError, OSError):
    """The monitoring page's server cannot start (`zgen_otel.start_server`); the message names the address.

    Its port is taken, its address cannot be bound, or another server already runs in this process.
    """


class NotFoundError(ZgenOtelError, KeyError):
    """The named rule, alert, silence, dashboard, trace or series does not exist.

    A ``KeyError`` (so a ``LookupError``) for code that already catches those, with a readable message
    (a plain ``KeyError`` shows its message in quotes).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()
