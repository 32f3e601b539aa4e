"""The HTTP API and web page (install the ``server`` extra): `make_app`, and `serve_options` to run it.

`zgen_otel.start_server` (`zgen_otel.http.background`) serves them from the agent's own process. The
names here are imported on first use, so that ``import zgen_otel`` (which imports ``start_server``) needs
neither FastAPI nor uvicorn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zgen_otel.http.app import make_app
    from zgen_otel.http.server import serve_options

__all__ = ["SERVER_EXTRA", "make_app", "needs_server_extra", "serve_options"]

#: What installs FastAPI and uvicorn, which the HTTP API and web page need.
SERVER_EXTRA = "pip install 'zgen-otel[server]'"


def needs_server_extra(what: str, exc: ImportError) -> ImportError:
    """The error to raise for ``what`` (``serve``, ``zgen_otel.http.make_app``...) when FastAPI or uvicorn is missing.

    Args:
        what: the command or function that needs them.
        exc: the ImportError of the missing module.

    Returns:
        An ImportError whose message names ``what``, the missing module and the command that installs them.
    """
    missing = exc.name or str(exc)
    return ImportError(f"{what} needs the server extra (FastAPI and uvicorn; {missing} is missing): {SERVER_EXTRA}",
                       name=exc.name)  # fmt: skip


def __getattr__(name: str) -> Any:
    """``make_app`` and ``serve_options``, imported on first use.

    Raises:
        ImportError: the server extra is missing (the message says how to install it).
    """
    if name not in ("make_app", "serve_options"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from zgen_otel.http.app import make_app
        from zgen_otel.http.server import serve_options
    except ImportError as exc:
        raise needs_server_extra(f"zgen_otel.http.{name}", exc) from None
    return make_app if name == "make_app" else serve_options
