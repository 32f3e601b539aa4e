"""The ``zgen-otel`` command: ``serve``, ``status``, ``dashboard`` and ``rules export``."""

from __future__ import annotations

import argparse
import math
import os
import runpy
import signal
import sys
import time
import traceback
import urllib.parse
from collections.abc import Sequence
from typing import Any

import zgen_otel
from zgen_otel import _current, remote
from zgen_otel.config import ENV_VARS, load_settings, redact_url
from zgen_otel.exceptions import ConfigError
from zgen_otel.http import needs_server_extra
from zgen_otel.http.binding import hosts_to_allow, is_loopback
from zgen_otel.remote import RemoteError, server_url

__all__ = ["SERVE_SERVICE_NAME", "main"]

#: The ``service.name`` of ``zgen-otel serve``'s own telemetry when neither ``OTEL_SERVICE_NAME`` nor
#: ``OTEL_RESOURCE_ATTRIBUTES`` names one (agents default to ``zgen-agent``).
SERVE_SERVICE_NAME = "zgen-otel-serve"


def run_rules_files(paths: Sequence[str]) -> str | None:
    """Run each Python file of ``paths`` in this process, in order, as ``serve --rules`` does.

    A file adds alert rules (or notifiers, dashboards...) to the current runtime with the public API.

    Returns:
        None when every file ran; else a one-line message naming the first file that is missing or
        raised, the line of that file where it raised, and the error.
    """
    for path in paths:
        if not os.path.isfile(path):
            return f"--rules {path}: no such file" if not os.path.exists(path) else f"--rules {path}: not a file"
        try:
            runpy.run_path(path, run_name="__zgen_otel_rules__")
        except (Exception, SystemExit) as exc:
            message: object = exc
            if isinstance(exc, SyntaxError) and exc.filename == path:
                line, message = exc.lineno, exc.msg
            else:
                line = next((f.lineno for f in reversed(traceback.extract_tb(exc.__traceback__)) if f.filename == path),
                            None)  # fmt: skip
            where = f"{path}, line {line}" if line is not None else path
            return f"--rules {where}: {type(exc).__name__}: {message}"
    return None


def serve(
    host: str,
    port: int,
    allowed_hosts: Sequence[str] = (),
    otlp_port: int = 4318,
    otlp_grpc_port: int = 4317,
    rules: Sequence[str] = (),
) -> int:
    """Run the runtime (system monitor, default alert rules), the HTTP API and web page, and OTLP receivers.

    ``allowed_hosts`` are the names besides loopback that the ``Host`` header may carry. Other processes
    send telemetry over OTLP/HTTP to ``otlp_port`` and OTLP/gRPC to ``otlp_grpc_port`` (0 turns one off).
    ``rules`` are Python files run in this process once the runtime has started (see `run_rules_files`);
    a missing one, or one that raises, ends it with status 2 before it serves.
    The HTTP servers run with `zgen_otel.http.serve_options` (read deadline, connection cap). A port
    that cannot be bound ends it with status 1 before it serves. Ctrl-C (SIGINT) or SIGTERM stops the
    servers, then flushes telemetry (a last collection, the OTLP exporters, the SQLite store) and returns 0.
    """
    token = os.environ.get("ZGEN_OTEL_API_TOKEN")
    try:
        load_settings({}, server_host=host)
    except ConfigError:
        print(f"zgen-otel: --host {host!r} is not valid: expected {ENV_VARS['server_host'].allowed}", file=sys.stderr)
        return 2
    if not is_loopback(host) and not token:
        print(
            f"zgen-otel: refusing to serve on {host}, which is not a loopback address, without a token: "
            "set ZGEN_OTEL_API_TOKEN (every endpoint then needs 'Authorization: Bearer <token>')",
            file=sys.stderr,
        )
        return 2
    try:  # uvicorn and FastAPI are the optional `server` extra: imported here so the other commands work without
        from zgen_otel.http import make_app
        from zgen_otel.http.auth import check_token
        from zgen_otel.http.serving import PortTaken, open_servers, url
    except ImportError as exc:
        print(f"zgen-otel: {needs_server_extra('serve', exc)}", file=sys.stderr)
        return 2
    if token:
        check_token(token, "ZGEN_OTEL_API_TOKEN")  # ConfigError: one line, exit status 2 (see main)

    # SIGTERM (kill, docker stop, systemd) stops like Ctrl-C: uvicorn re-raises the signal after its own
    # shutdown, and the default SIGTERM action would end the process before the flush below.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        # This command is the server: no second one for ZGEN_OTEL_SERVER_PORT, and its own telemetry is listed
        # under its own name beside the agents' unless the user names it.
        named = "OTEL_SERVICE_NAME" in os.environ or "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
        if named:
            zgen_otel.configure(server_port=None)
        else:
            zgen_otel.configure(server_port=None, service_name=SERVE_SERVICE_NAME)
        failed = run_rules_files(rules)
        if failed is not None:
            raise ConfigError(failed)
        hosts = hosts_to_allow(host, allowed_hosts)
        app = make_app(token=token, require_token=not is_loopback(host), allowed_hosts=hosts)
        rt = _current.get_runtime()
        servers = open_servers(app, host, port, receiver=rt.start_receiver(), otlp_port=otlp_port,
                               otlp_grpc_port=otlp_grpc_port, token=None if is_loopback(host) else token,
                               allowed_hosts=rt.settings.allowed_hosts if hosts is None else hosts,
                               max_body=rt.settings.otlp_max_body,
                               failures=app.state.zgen_failures)  # fmt: skip
    except (ConfigError, PortTaken) as exc:
        zgen_otel.shutdown()
        print(f"zgen-otel: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, PortTaken) else 2
    print(
        f"zgen-otel: web page at {url(host, servers.page_port)}/monitoring  (API under /api/monitoring; Ctrl-C stops)"
    )
    print(servers.agent_line(token_required=not is_loopback(host)), flush=True)
    try:
        servers.run()
    finally:
        zgen_otel.shutdown()
    return 0


_MAX_ALERTS_LISTED = 20
_NOT_RUNNING = ": is `zgen-otel serve` running? (another address: --url HOST:PORT)"


def _failed(exc: RemoteError) -> int:
    """Print why a server could not be read (with a hint when nothing answered); the exit status 1."""
    print(f"zgen-otel: {exc}{_NOT_RUNNING if exc.nobody else ''}", file=sys.stderr)
    return 1


def _count(n: int, noun: str) -> str:
    """``1 rule``, ``2 rules``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _alert_lines(alerts: Any, base: str) -> list[str]:
    """One line per active alert, most severe first: severity, name, and whether it is acknowledged."""
    lines = [f"  {a['severity']:<11} {a['name']}{' (acknowledged)' if a['status'] == 'acknowledged' else ''}"
             for a in alerts[:_MAX_ALERTS_LISTED]]  # fmt: skip
    if len(alerts) > _MAX_ALERTS_LISTED:
        lines.append(f"  ... and {len(alerts) - _MAX_ALERTS_LISTED} more: {base}/monitoring/alerts")
    return lines


def _status_lines(data: Any, alerts: Any, base: str) -> list[str]:
    """The lines of the answers of ``/api/monitoring`` and ``/api/monitoring/alerts``.

    Raises:
        KeyError, TypeError, AttributeError, ValueError: the answers are not those of a zgen-otel server.
    """
    store = data.get("store", {})
    return [
        f"service       {data['service_name']} (zgen-otel {data['version']})",
        f"web page      {base}/monitoring",
        f"monitoring    {'on' if data['enabled'] else 'off'}, every {data['interval']:g} s, "
        f"uptime {data['uptime_seconds']:.0f} s",
        f"store         {store.get('series', 0)} series, {store.get('points', 0)} points",
        f"alerting      {'on' if data['alerting_enabled'] else 'off'}: {_count(data['rules'], 'rule')}, "
        f"{_count(len(alerts), 'active alert')}" + (":" if alerts else ""),
        *_alert_lines(alerts, base),
        f"exporters     {data['exporters'] or 'none (local only)'}",
    ]


def status(url: str) -> int:
    """Print what a running server's ``/api/monitoring`` says, and its active alerts.

    Returns:
        0; 1 when the server cannot be read (with a hint when nothing answers); 2 for a malformed ``url``.
    """
    base = server_url(url)
    token = os.environ.get("ZGEN_OTEL_API_TOKEN") or None
    ends = time.monotonic() + remote.DEADLINE
    try:
        data = remote.get_json(base, "/api/monitoring", token=token, deadline=ends - time.monotonic())
        alerts = remote.get_json(base, "/api/monitoring/alerts", token=token, deadline=ends - time.monotonic())
        lines = _status_lines(data, alerts, base)
    except RemoteError as exc:
        return _failed(exc)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        missing = f" (no {exc.args[0]!r} field)" if isinstance(exc, KeyError) and exc.args else ""
        print(f"zgen-otel: {redact_url(base)} answered JSON that is not a zgen-otel status{missing}: is it a "
              "zgen-otel server of the same version?", file=sys.stderr)  # fmt: skip
        return 1
    print("\n".join(lines))
    return 0


def _write(text: str, output: str | None) -> bool:
    """Write ``text`` to the file ``output``, or to standard output; False (after saying why) when it cannot."""
    if not output:
        sys.stdout.write(text)
        return True
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        print(f"zgen-otel: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return False
    return True


def dashboard(name: str, fmt: str, output: str | None, window: float, url: str | None = None) -> int:
    """Render a dashboard to stdout or a file: a running server's (``url``), else this process's fresh runtime's.

    Returns:
        0; 1 when the server cannot be read or the file written; 2 for an unknown dashboard or a bad setting.
    """
    if url is not None:
        base = server_url(url)
        query = {"format": fmt, "window": f"{window:g}"}
        try:
            body = remote.get(base, f"/api/monitoring/dashboard/{urllib.parse.quote(name, safe='')}", query,
                              token=os.environ.get("ZGEN_OTEL_API_TOKEN") or None)  # fmt: skip
        except RemoteError as exc:
            return _failed(exc)
        return 0 if _write(body.decode("utf-8", errors="replace"), output) else 1
    from zgen_otel.dashboards.dashboard import render_dashboard

    try:
        text = render_dashboard(name, format=fmt, window_seconds=window)
    except (KeyError, ValueError) as exc:
        print(f"zgen-otel: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    print("zgen-otel: rendered this command's own runtime, which has no history yet; to render what a running "
          "server shows, add --url (such as --url 127.0.0.1:8001)", file=sys.stderr)  # fmt: skip
    return 0 if _write(text, output) else 1


def rules_export(output: str | None, route: str = "scrape") -> int:
    """Write the alert rules (defaults plus any configured) as a Prometheus rule file named for ``route``; say what."""
    from zgen_otel.alerting import export_prometheus_rules

    try:
        text = export_prometheus_rules(route=route)
    except ImportError as exc:  # the `prometheus` extra: the names come from OTel's Prometheus exporter
        print(f"zgen-otel: {exc}", file=sys.stderr)
        return 2
    if not _write(text, output):
        return 1
    if output:
        written = sum(1 for line in text.splitlines() if line.lstrip().startswith("- alert: "))
        print(f"zgen-otel: wrote {written} alert rules to {output} (a Prometheus rule file)", file=sys.stderr)
    return 0


# The built-in dashboards, written out: listing the registry would import jinja2 and every dashboard module
# on every command. An unknown name is answered with the registered ones.
_DASHBOARDS = "alerts, llm, logs, metrics, performance, system, traces"


def _port(text: str) -> int:
    """A port number for argparse: 0 to 65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: expected a whole number from 0 to 65535")
    return int(text)


_MAX_WINDOW = 366 * 86_400.0  # as the HTTP API allows


def _window(text: str) -> float:
    """Seconds of history for argparse: a number above 0, up to 366 days."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= _MAX_WINDOW:
        raise argparse.ArgumentTypeError(f"{text!r} is not a window: expected seconds above 0, up to "
                                         f"{_MAX_WINDOW:,.0f} (366 days)")  # fmt: skip
    return value


def _parser() -> argparse.ArgumentParser:
    """The command line of ``zgen-otel``."""
    parser = argparse.ArgumentParser(prog="zgen-otel", description="OpenTelemetry monitoring for AI agents.")
    parser.add_argument("--version", action="version", version=f"zgen-otel {zgen_otel.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the monitor, default alert rules and the web page")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8001, help="port of the web page and API (default 8001)")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a name besides loopback that clients may reach the server by (Host header); repeatable; "
                        "'*' for any (default: ZGEN_OTEL_ALLOWED_HOSTS, and the --host address)")  # fmt: skip
    p.add_argument(
        "--otlp-port",
        type=_port,
        default=4318,
        help="port of the OTLP/HTTP receiver other processes send telemetry to (default 4318; 0: off)",
    )
    p.add_argument("--otlp-grpc-port", type=_port, default=4317,
                   help="port of the OTLP/gRPC receiver (default 4317; 0: off)")  # fmt: skip
    p.add_argument("--rules", action="append", default=[], metavar="FILE.py",
                   help="a Python file that serve runs before it serves, to add alert rules with the same Python "
                        "API as in an agent (zgen_otel.alerting, see the README); repeatable, run in order; a "
                        "missing file or one that raises stops serve with exit status 2")  # fmt: skip
    url_help = "the server: http://HOST:PORT, or HOST:PORT (default 127.0.0.1:8001); its token: ZGEN_OTEL_API_TOKEN"
    p = sub.add_parser("status", help="show what a running server reports, and its active alerts")
    p.add_argument("--url", default="http://127.0.0.1:8001", help=url_help)
    p = sub.add_parser("dashboard", help="render a dashboard of a running server (--url), or of a fresh runtime")
    p.add_argument("name", help=f"one of: {_DASHBOARDS}")
    p.add_argument("--url", help=url_help.replace(" (default 127.0.0.1:8001)", "") + "; without it, the "
                   "dashboard of this command's own runtime, which has no history")  # fmt: skip
    p.add_argument("--format", choices=("html", "json"), default="html")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.add_argument("--window", type=_window, default=3600.0, help="seconds of history (default 3600)")
    p = sub.add_parser("rules", help="alert rules")
    rules = p.add_subparsers(dest="rules_command", required=True)
    e = rules.add_parser("export", help="write the rules as a Prometheus rule file")
    e.add_argument("--format", choices=("prometheus",), default="prometheus")
    e.add_argument("-o", "--output", help="file to write (default: standard output)")
    e.add_argument("--route", choices=("scrape", "collector"), default="scrape",
                   help="how the metrics reach Prometheus, which decides their names: 'scrape' (default: Prometheus "
                        "scrapes each agent's /metrics) or 'collector' (OTLP to an OpenTelemetry Collector, which "
                        "remote-writes them or serves them to Prometheus)")  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``zgen-otel`` and ``python -m zgen_otel``.

    Returns:
        The exit status: 0 done, 1 failed (a server that does not answer, a port taken, a file not written),
        2 bad input (an argument or setting that is not allowed, named in one line on standard error).
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return serve(args.host, args.port, args.allowed_host, args.otlp_port, args.otlp_grpc_port, args.rules)
        if args.command == "status":
            return status(args.url)
        if args.command == "dashboard":
            return dashboard(args.name, args.format, args.output, args.window, args.url)
        return rules_export(args.output, args.route)
    except ConfigError as exc:  # a setting (environment variable) or --url that is not allowed
        print(f"zgen-otel: {exc}", file=sys.stderr)
        return 2
