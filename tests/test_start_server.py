"""``zgen_otel.start_server``: the API and web page served from inside an agent's own process.

Real things only: scripts run as subprocesses, real ports on 127.0.0.1, Debian's Chromium for the page.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import zgen_otel
from tests.support.net import free_port
from tests.support.waiting import wait_for
from zgen_otel.config import load_settings
from zgen_otel.exceptions import ConfigError, ServerError
from zgen_otel.http.background import THREAD_NAME

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


def port_is_free(port: int) -> bool:
    """Whether 127.0.0.1:``port`` can be bound (nobody listens on it, nobody holds it)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def nobody_listens(port: int) -> bool:
    """Whether a connection to 127.0.0.1:``port`` is refused."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def script_env(**extra: str) -> dict[str, str]:
    """This environment without zgen_otel settings, with this checkout first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZGEN_OTEL_", "MONITORING_", "OTEL_"))}
    env.update(PYTHONPATH=str(ROOT), ZGEN_OTEL_HOST_LOCK="none", **extra)
    return env


def run_script(tmp_path: Path, source: str, **env: str) -> subprocess.Popen[str]:
    path = tmp_path / "agent.py"
    path.write_text(textwrap.dedent(source))
    return subprocess.Popen([sys.executable, str(path)], env=script_env(**env), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def finish(proc: subprocess.Popen[str]) -> tuple[float, str, str]:
    """Close the script's stdin (its cue to end) and wait: seconds it took to exit, its stdout and stderr."""
    started = time.monotonic()
    out, err = proc.communicate(input="", timeout=30)
    return time.monotonic() - started, out, err


AGENT = """
    import sys, time
    import zgen_otel

    zgen_otel.record_metric("queue_depth", 7, "agent")

    @zgen_otel.track("agent.plan")
    def plan():
        time.sleep(0.01)

    plan()
    handle = zgen_otel.start_server(port=0)
    print(handle.url, flush=True)
    sys.stdin.read()  # serve until the test is done
"""


def test_a_plain_script_serves_its_page_to_a_browser(tmp_path: Path, browser: Any) -> None:
    proc = run_script(tmp_path, AGENT, ZGEN_OTEL_SYSTEM_MONITOR="false")
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/monitoring"), url
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        assert page.goto(url).status == 200
        page.get_by_role("link", name="Metrics").first.click()  # from the index, as a user would
        page.wait_for_load_state()
        metric_row = [
            c.strip() for c in page.locator("tr", has_text="agent.queue_depth").locator("td").all_inner_texts()
        ]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "start-server-metrics.png"), full_page=True)
        assert page.goto(url + "/performance").status == 200
        operation_row = [c.strip() for c in page.locator("tr", has_text="agent.plan").locator("td").all_inner_texts()]
        page.screenshot(path=str(ARTIFACTS / "start-server-performance.png"), full_page=True)
        page.close()
    finally:
        _, out, err = finish(proc)
    assert metric_row[0] == "agent.queue_depth" and metric_row[3] == "7"  # the latest value
    assert operation_row[:3] == ["agent.plan", "1", "0"]  # one call, no error
    assert errors == []
    assert out == ""  # after the script's own line, nothing: the server printed nothing
    assert proc.returncode == 0 and "Traceback" not in err, err


def test_a_taken_port_is_a_clear_error_and_nothing_is_announced(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO, logger="zgen_otel")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServerError) as caught:
            zgen_otel.start_server(port=port)
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "already uses port" in message and "port 0" in message
    assert isinstance(caught.value, OSError)
    assert server_threads() == []
    assert not [r for r in caplog.records if "monitoring page at" in r.getMessage()]
    assert capsys.readouterr().out == ""


def test_one_server_per_process_until_shutdown(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO, logger="zgen_otel")
    zgen_otel.record_metric("steps", 1, "agent")
    handle = zgen_otel.start_server(port=0)
    assert handle.host == "127.0.0.1" and handle.url == f"http://127.0.0.1:{handle.port}/monitoring"
    assert zgen_otel.start_server(port=handle.port) is handle and zgen_otel.start_server(port=0) is handle
    other = free_port()
    with pytest.raises(ServerError, match=re.escape(f"already served at {handle.url}")):
        zgen_otel.start_server(port=other)
    assert port_is_free(other) and len(server_threads()) == 1
    api = f"http://127.0.0.1:{handle.port}/api/monitoring"
    assert [s["name"] for s in httpx.get(api + "/metrics", timeout=10).json()] == ["agent.steps"]
    announced = [r.getMessage() for r in caplog.records if "monitoring page at" in r.getMessage()]
    assert len(announced) == 1 and handle.url in announced[0] and capsys.readouterr().out == ""

    started = time.monotonic()
    zgen_otel.shutdown()
    stopped_in = time.monotonic() - started
    assert not handle.running and server_threads() == [] and port_is_free(handle.port)
    with pytest.raises(httpx.ConnectError):
        httpx.get(api, timeout=5)
    print(f"shutdown() with the server running took {stopped_in:.2f} s")
    assert stopped_in < 5

    again = zgen_otel.start_server(port=handle.port)  # the port is the process's to use again
    assert again is not handle and again.port == handle.port and httpx.get(api, timeout=10).is_success
    assert again.stop() is True and again.stop() is True and port_is_free(handle.port)


def test_the_server_follows_configure() -> None:
    zgen_otel.configure(service_name="first", system_monitor=False)
    handle = zgen_otel.start_server(port=0)
    api = f"http://127.0.0.1:{handle.port}/api/monitoring"
    assert httpx.get(api, timeout=10).json()["service_name"] == "first"
    zgen_otel.configure(service_name="second", system_monitor=False)
    assert handle.running
    assert httpx.get(api, timeout=10).json()["service_name"] == "second"


def test_a_non_loopback_address_needs_a_token(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigError, match=re.escape("refusing to serve on 0.0.0.0, which is not a loopback")) as caught:
        zgen_otel.start_server(port=free_port(), host="0.0.0.0")
    assert "ZGEN_OTEL_API_TOKEN" in str(caught.value) and "token=" in str(caught.value)
    with pytest.raises(ConfigError, match="require_token=True needs a token"):
        zgen_otel.start_server(port=0, require_token=True)
    assert server_threads() == []
    # From the settings: a warning, and the agent runs on.
    port = free_port()
    zgen_otel.configure(server_port=port, server_host="0.0.0.0", system_monitor=False)
    zgen_otel.record_metric("steps", 1, "agent")
    assert server_threads() == [] and port_is_free(port)
    warned = [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "SERVER_PORT" in r.getMessage()
    ]
    assert len(warned) == 1 and "refusing to serve on 0.0.0.0" in warned[0]


def test_arguments_and_settings_are_checked() -> None:
    for bad in (-1, 65536):
        with pytest.raises(ConfigError, match=f"port={bad} is not valid: expected 0"):
            zgen_otel.start_server(port=bad)
    with pytest.raises(TypeError, match="port must be an int; got str '8001'"):
        zgen_otel.start_server(port="8001")  # type: ignore[arg-type]
    # 192.0.2.1 (TEST-NET-1, documentation only) is no address of this machine.
    with pytest.raises(ServerError, match=re.escape("cannot serve the monitoring page on 192.0.2.1:0: ")) as caught:
        zgen_otel.start_server(port=0, host="192.0.2.1", token="t" * 20)
    assert "Use an address of this machine" in str(caught.value) and server_threads() == []
    for raw in ("abc", "0", "70000", "8001.5"):
        with pytest.raises(ConfigError, match=f"ZGEN_OTEL_SERVER_PORT='{raw}' is not valid: expected a port number"):
            load_settings({"ZGEN_OTEL_SERVER_PORT": raw})
    for raw in ("a,b", "*", ".example.com"):
        with pytest.raises(ConfigError, match=r"ZGEN_OTEL_SERVER_HOST=.* is not valid: expected one IP address"):
            load_settings({"ZGEN_OTEL_SERVER_HOST": raw})
    with pytest.raises(ConfigError, match="server_port=True is not valid"):
        zgen_otel.configure(server_port=True)
    settings = load_settings({"ZGEN_OTEL_SERVER_PORT": " ", "ZGEN_OTEL_SERVER_HOST": "[::1]"})
    assert settings.server_port is None and settings.server_host == "::1"
    assert load_settings({}, server_port=8001).server_port == 8001


def test_the_environment_setting_serves_while_the_script_runs(tmp_path: Path) -> None:
    port = free_port()
    source = """
        import logging, sys
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)  # the host logs everything, to stderr
        import zgen_otel

        zgen_otel.record_metric("steps", 1, "agent")  # first use: the runtime starts, and the server with it
        print("working", flush=True)
        sys.stdin.read()
    """
    proc = run_script(tmp_path, source, ZGEN_OTEL_SERVER_PORT=str(port), ZGEN_OTEL_SYSTEM_MONITOR="false")
    # A client that keeps its connection open (as a browser with the page open does) while the script ends.
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        try:
            assert proc.stdout is not None and proc.stdout.readline() == "working\n"
            names = wait_for(lambda: [s["name"] for s in client.get("/api/monitoring/metrics").json()], timeout=10)
            assert names == ["agent.steps"] and client.get("/api/monitoring").json()["enabled"] is True
        finally:
            seconds, out, err = finish(proc)
    print(f"the script exited {seconds:.2f} s after its end, the server included")
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert seconds < 5 and out == "" and nobody_listens(port)
    assert f"monitoring page at http://127.0.0.1:{port}/monitoring" in err
    assert "Uvicorn running" not in err and "Started server process" not in err and "GET /api" not in err


def test_without_the_server_extra(tmp_path: Path) -> None:
    port = free_port()
    source = """
        import logging, sys
        sys.modules["fastapi"] = sys.modules["uvicorn"] = None  # as if the server extra were not installed
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
        import zgen_otel

        zgen_otel.record_metric("steps", 1, "agent")  # ZGEN_OTEL_SERVER_PORT: a warning, the agent runs on
        zgen_otel.record_metric("steps", 2, "agent")
        print(zgen_otel.get_latest_value("agent.steps"), flush=True)
        try:
            zgen_otel.start_server()
        except ImportError as exc:
            print(exc)
    """
    proc = run_script(tmp_path, source, ZGEN_OTEL_SERVER_PORT=str(port), ZGEN_OTEL_SYSTEM_MONITOR="false",
                      ZGEN_OTEL_CAPTURE_LOGS="false")  # fmt: skip
    _, out, err = finish(proc)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert out.splitlines()[0] == "2.0" and "pip install 'zgen-otel[server]'" in out.splitlines()[1]
    assert err.count("WARNING") == 1 and "pip install 'zgen-otel[server]'" in err and "the agent runs on" in err


def test_a_forked_child_has_no_server_and_does_not_hold_the_port(tmp_path: Path) -> None:
    source = """
        import os, socket, sys, threading
        import zgen_otel

        handle = zgen_otel.start_server(port=0)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            names = [t.name for t in threading.enumerate()]
            child = zgen_otel.start_server(port=0)  # a server of its own, on another port
            print("child", handle.running, "zgen-otel-server" in names, child.port != handle.port, flush=True)
            os.read(read, 1)  # until the parent has stopped its server
            child.stop()
            os._exit(0)
        assert handle.stop()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", handle.port))  # free, though the child is alive
        print("parent port free", flush=True)
        os.write(write, b"x")
        os.waitpid(pid, 0)
    """
    proc = run_script(tmp_path, source, ZGEN_OTEL_SYSTEM_MONITOR="false")
    _, out, err = finish(proc)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert sorted(out.splitlines()) == ["child False False True", "parent port free"]


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).is_success
    except httpx.TransportError:
        return False


def test_serve_ignores_the_setting() -> None:
    """``zgen-otel serve`` is the server: ZGEN_OTEL_SERVER_PORT on its own port would otherwise take it first."""
    port = free_port()
    env = script_env(ZGEN_OTEL_SERVER_PORT=str(port), ZGEN_OTEL_SYSTEM_MONITOR="false")
    proc = subprocess.Popen([sys.executable, "-m", "zgen_otel", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        assert f"http://127.0.0.1:{port}/monitoring" in proc.stdout.readline()
        wait_for(lambda: answers(f"http://127.0.0.1:{port}/api/monitoring"), what="serve to answer")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err and "WARNING" not in err, err
