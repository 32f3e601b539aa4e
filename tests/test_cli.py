"""The ``zgen-otel`` command as a user meets it: ``python -m zgen_otel`` in subprocesses, real servers on 127.0.0.1.

Bad input is one line on standard error and exit status 2; a server that cannot be reached, a port that is
taken or a file that cannot be written is one line and exit status 1; no traceback anywhere.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import zgen_otel
from tests.support.net import free_port, hanging_port
from tests.support.serve import Serve, clean_env, serving_rules
from tests.support.servers import Server
from zgen_otel.cli import main as cli_main
from zgen_otel.http import make_app
from zgen_otel.remote import RemoteError, get

TOKEN = "cli-test-token-0123456789"


def zgen_otel_cli(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m zgen_otel ARGS`` in a clean environment plus ``env``; its exit status, stdout and stderr."""
    return subprocess.run([sys.executable, "-m", "zgen_otel", *args], env=clean_env(**env), capture_output=True,
                          text=True, timeout=60, cwd=cwd)  # fmt: skip


def one_line_error(done: subprocess.CompletedProcess[str], status: int) -> str:
    """Assert the command failed with ``status`` and said why in one line, with no traceback; return that line."""
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zgen-otel: "), done.stderr
    assert done.stdout == ""
    return lines[0]


# --- bad settings and arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["dashboard", "system"], ["rules", "export"]],
                         ids=["serve", "dashboard", "rules-export"])  # fmt: skip
def test_a_bad_setting_is_one_line_naming_it_and_status_2_for_every_command(command: list[str]) -> None:
    line = one_line_error(zgen_otel_cli(*command, MONITORING_INTERVAL="abc"), 2)
    assert line == "zgen-otel: MONITORING_INTERVAL='abc' is not valid: expected a number of seconds > 0"


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("ALERTING_ENABLED", "maybe", "true or false"),
        ("MONITORING_INTERVAL", "0.00001", "0.001 to 100,000,000 seconds"),  # a number, out of range
        ("OTEL_METRIC_EXPORT_INTERVAL", "1e20", "1 to 100,000,000,000 milliseconds"),  # in the variable's unit
        ("ZGEN_OTEL_MAX_RAW_POINTS", "4", "a whole number >= 16"),
        ("ZGEN_OTEL_API_TOKEN", "short", "at least 16"),  # serve's token
    ],
)
def test_serve_names_the_variable_its_value_and_what_is_allowed(variable: str, value: str, allowed: str) -> None:
    line = one_line_error(zgen_otel_cli("serve", "--port", "0", **{variable: value}), 2)
    assert variable in line and allowed in line
    assert (repr(value) in line) != (variable == "ZGEN_OTEL_API_TOKEN")  # a token is never shown


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["serve", "--host", "not a host"], "--host 'not a host' is not valid: expected one IP address or host name"),
        (["serve", "--port", "70000"], "'70000' is not a port: expected a whole number from 0 to 65535"),
        (["status", "--url", "ftp://127.0.0.1:8001"], "--url 'ftp://127.0.0.1:8001' is not a server address"),
        (["status", "--url", "http://me:secret@127.0.0.1:8001"], "--url must not hold credentials"),
        (["dashboard", "system", "--window", "-5"], "'-5' is not a window: expected seconds above 0"),
    ],
)
def test_bad_arguments_are_named_with_what_is_allowed_and_status_2(args: list[str], expected: str) -> None:
    done = zgen_otel_cli(*args)
    assert done.returncode == 2 and expected in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "secret" not in done.stderr


def test_version() -> None:
    done = zgen_otel_cli("--version")
    assert done.returncode == 0 and done.stdout == f"zgen-otel {zgen_otel.__version__}\n"


# --- serve: ports ----------------------------------------------------------------------------------------------


def test_serve_names_a_taken_page_port_and_the_flag_before_announcing_anything() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = zgen_otel_cli("serve", "--port", str(port), "--otlp-port", "0", "--otlp-grpc-port", "0")
    line = one_line_error(done, 1)
    assert f"cannot listen on 127.0.0.1:{port} for the web page (Address already in use)" in line
    assert line.endswith("choose another port with --port")


def test_serve_on_an_address_of_another_machine_says_to_change_the_host() -> None:
    token = {"ZGEN_OTEL_API_TOKEN": TOKEN}  # not loopback: serve needs a token before it tries
    line = one_line_error(zgen_otel_cli("serve", "--host", "192.0.2.1", "--port", "0", **token), 1)  # TEST-NET-1
    assert "cannot listen on 192.0.2.1:0 for the web page" in line and "--host must name an address of this" in line


# --- status and dashboard --url against a running server ----------------------------------------------------------

RULES = """
import zgen_otel
from zgen_otel.alerting import get_alert_manager, trigger_alert

zgen_otel.record_metric("queue_depth", 7, "agent")
trigger_alert("disk_full", "disk is full", "critical", "system")
acknowledged = trigger_alert("slow_tool", "a tool is slow", "warning", "agent")
get_alert_manager().acknowledge_alert(acknowledged.id, by="oncall")
"""


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """``zgen-otel serve`` with a metric and two active alerts (one acknowledged), from a --rules file."""
    with serving_rules(tmp_path_factory.mktemp("serve"), RULES) as serve:
        yield serve


def test_status_shows_the_page_and_the_active_alerts_given_an_address_without_scheme(serving: Serve) -> None:
    done = zgen_otel_cli("status", "--url", f"127.0.0.1:{serving.port}")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    lines = done.stdout.splitlines()
    assert f"web page      http://127.0.0.1:{serving.port}/monitoring" in lines
    assert "alerting      on: 0 rules, 2 active alerts:" in lines
    at = lines.index("alerting      on: 0 rules, 2 active alerts:")
    assert lines[at + 1 : at + 3] == ["  critical    disk_full", "  warning     slow_tool (acknowledged)"]


def test_status_with_nothing_listening_asks_whether_serve_runs() -> None:
    port = free_port()
    line = one_line_error(zgen_otel_cli("status", "--url", f"127.0.0.1:{port}"), 1)
    assert line == (f"zgen-otel: no answer from http://127.0.0.1:{port} (connection refused): is `zgen-otel serve` "
                    "running? (another address: --url HOST:PORT)")  # fmt: skip


def test_dashboard_with_url_renders_what_the_server_shows(serving: Serve, tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    done = zgen_otel_cli("dashboard", "metrics", "--url", f"127.0.0.1:{serving.port}", "--format", "json", "-o",
                         str(target))  # fmt: skip
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "agent.queue_depth" in target.read_text() and json.loads(target.read_text())["name"] == "metrics"
    page = zgen_otel_cli("dashboard", "alerts", "--url", serving.url)
    assert page.returncode == 0 and page.stdout.startswith("<!") and "disk_full" in page.stdout
    # Without --url: this command's own runtime, which has nothing of the server's, and it says so.
    fresh = zgen_otel_cli("dashboard", "metrics", "--format", "json")
    assert fresh.returncode == 0 and "agent.queue_depth" not in fresh.stdout
    assert "add --url (such as --url 127.0.0.1:8001)" in fresh.stderr
    unknown = one_line_error(zgen_otel_cli("dashboard", "nope", "--url", serving.url), 1)
    assert "answered 404 Not Found" in unknown and "nope" in unknown


@pytest.fixture
def locked() -> Iterator[Server]:
    """A server whose every endpoint needs the token."""
    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
    srv = Server(make_app(token=TOKEN, require_token=True))
    yield srv
    srv.stop()


def test_status_and_dashboard_send_the_token_of_the_environment(
    locked: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["status", "--url", locked.url]) == 1
    assert capsys.readouterr().err == (f"zgen-otel: {locked.url} needs the API token (401): set ZGEN_OTEL_API_TOKEN "
                                       "to the server's token\n")  # fmt: skip
    monkeypatch.setenv("ZGEN_OTEL_API_TOKEN", "not-the-token-0123456789")
    assert cli_main(["dashboard", "system", "--url", locked.url]) == 1
    assert "refused the token in ZGEN_OTEL_API_TOKEN (401)" in capsys.readouterr().err
    monkeypatch.setenv("ZGEN_OTEL_API_TOKEN", TOKEN)
    assert cli_main(["status", "--url", locked.url]) == 0
    assert f"web page      {locked.url}/monitoring" in capsys.readouterr().out


def test_a_request_has_a_total_deadline_even_against_a_server_that_trickles() -> None:
    with hanging_port() as port:  # accepts, never answers
        started = time.monotonic()
        with pytest.raises(RemoteError, match=r"no answer from http://127.0.0.1:\d+ within 0.5 s"):
            get(f"http://127.0.0.1:{port}", "/api/monitoring", deadline=0.5)
        assert time.monotonic() - started < 2
    with socket.socket() as listener:  # answers a header line every 0.1 s, forever: each read is quick
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        stop = threading.Event()

        def trickle() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                while not stop.wait(0.1):
                    try:
                        conn.sendall(b"X-Filler: yes\r\n")
                    except OSError:
                        return

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        started = time.monotonic()
        with pytest.raises(RemoteError, match=r"no whole answer from .* within 1 s"):
            get(f"http://127.0.0.1:{listener.getsockname()[1]}", "/api/monitoring", deadline=1)
        assert time.monotonic() - started < 3
        stop.set()
        thread.join(5)


# --- rules export, and the server extra ------------------------------------------------------------------------


def test_rules_export_to_a_file_says_how_many_rules_it_wrote_and_where(tmp_path: Path) -> None:
    target = tmp_path / "zgen.rules.yml"
    done = zgen_otel_cli("rules", "export", "-o", str(target))
    assert done.returncode == 0 and done.stdout == ""
    written = target.read_text().count("- alert: ")
    assert written == 4 and done.stderr == f"zgen-otel: wrote 4 alert rules to {target} (a Prometheus rule file)\n"
    line = one_line_error(zgen_otel_cli("rules", "export", "-o", str(tmp_path / "no-such-dir" / "x.yml")), 1)
    assert line.endswith("no-such-dir/x.yml: No such file or directory")


BLOCK_SERVER_EXTRA = """
import sys

class NotInstalled:  # as if the server extra (FastAPI, uvicorn) were not installed
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("fastapi", "uvicorn", "starlette"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
"""


def test_without_the_server_extra_make_app_and_serve_say_to_install_it() -> None:
    imported = subprocess.run([sys.executable, "-c", BLOCK_SERVER_EXTRA + "from zgen_otel.http import make_app"],
                              env=clean_env(), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert imported.returncode == 1
    last = imported.stderr.strip().splitlines()[-1]
    assert last == ("ImportError: zgen_otel.http.make_app needs the server extra (FastAPI and uvicorn; fastapi is "
                    "missing): pip install 'zgen-otel[server]'")  # fmt: skip
    source = BLOCK_SERVER_EXTRA + "from zgen_otel.cli import main\nraise SystemExit(main(['serve', '--port', '0']))"
    served = subprocess.run([sys.executable, "-c", source], env=clean_env(), capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    line = one_line_error(served, 2)
    assert line.endswith(last.partition(" needs ")[2]) and line.startswith("zgen-otel: serve needs the server extra")
