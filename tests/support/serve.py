"""``zgen-otel serve`` in a subprocess on free ports of 127.0.0.1, and agent processes that send to it.

::

    serve = Serve(tmp_path, "--rules", "rules.py")   # returns once its API answers
    agent = start_python("agent", AGENT_SOURCE, tmp_path, **serve.agent_env("my-agent"))
    finish(agent)
    serve.get("/api/monitoring/services")
    serve.stop()
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.net import free_port
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent.parent


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without zgen_otel or OpenTelemetry settings, this checkout first on the path, plus ``extra``.

    The system monitor is off (its host series are not what these tests count) and the host election too.
    """
    prefixes = ("ZGEN_OTEL_", "MONITORING_", "ALERTING_", "OTEL_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(PYTHONPATH=str(ROOT), ZGEN_OTEL_HOST_LOCK="none", ZGEN_OTEL_SYSTEM_MONITOR="false", **extra)
    return env


class Serve:
    """``python -m zgen_otel serve`` on free ports, its output in files of ``workdir``; ended by :meth:`stop`."""

    def __init__(self, workdir: Path, *args: str, **env: str) -> None:
        """Start it with the extra command-line ``args`` and environment ``env``; wait until its API answers."""
        self.port, otlp_port, grpc_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.http_endpoint = f"http://127.0.0.1:{otlp_port}"
        self.grpc_endpoint = f"http://127.0.0.1:{grpc_port}"
        self._out, self._err = workdir / "serve.out", workdir / "serve.err"
        command = [sys.executable, "-m", "zgen_otel", "serve", "--port", str(self.port), "--otlp-port",
                   str(otlp_port), "--otlp-grpc-port", str(grpc_port), *args]  # fmt: skip
        with self._out.open("w") as out, self._err.open("w") as err:
            self.proc = subprocess.Popen(command, env=clean_env(ZGEN_OTEL_DEFAULT_RULES="false", **env), stdout=out,
                                         stderr=err, cwd=workdir)  # fmt: skip
        self.client = httpx.Client(base_url=self.url, timeout=10)
        wait_for(self._answers, timeout=30, what=f"zgen-otel serve to answer on port {self.port}")

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"zgen-otel serve exited with {self.proc.returncode}: {self._err.read_text()}")
        try:
            return self.client.get("/api/monitoring").status_code == 200
        except httpx.TransportError:
            return False

    def get(self, path: str, **params: Any) -> Any:
        """The JSON answer of a GET of ``path`` (must be 200)."""
        response = self.client.get(path, params=params)
        assert response.status_code == 200, (path, params, response.text)
        return response.json()

    def performance(self, **selection: str) -> dict[str, tuple[int, int]]:
        """``(calls, errors)`` per operation of the performance API for a selection (``service=``, ``instance=``)."""
        found = self.get("/api/monitoring/performance", **selection)
        return {name: (row["calls"], row["errors"]) for name, row in found.items()}

    def agent_env(self, service: str, protocol: str = "http/protobuf") -> dict[str, str]:
        """What an agent sets to send here: its name, the endpoint, and for ``grpc`` the protocol variable."""
        if protocol == "grpc":
            return {"OTEL_SERVICE_NAME": service, "OTEL_EXPORTER_OTLP_ENDPOINT": self.grpc_endpoint,
                    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}  # fmt: skip
        return {"OTEL_SERVICE_NAME": service, "OTEL_EXPORTER_OTLP_ENDPOINT": self.http_endpoint}

    def stop(self) -> str:
        """Stop it as Ctrl-C does; fail unless it exits with 0 and no traceback. Returns its standard error."""
        self.client.close()
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=20)
        err = self._err.read_text()
        assert self.proc.returncode == 0 and "Traceback" not in err, err
        return err


@contextmanager
def serving_rules(workdir: Path, rules: str) -> Iterator[Serve]:
    """``zgen-otel serve --rules rules.py`` in ``workdir``, ``rules`` the file's text; stopped afterwards."""
    (workdir / "rules.py").write_text(rules)
    serve = Serve(workdir, "--rules", "rules.py")
    try:
        yield serve
    finally:
        serve.stop()


def start_python(name: str, source: str, workdir: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    """Run ``source`` (dedented) as ``workdir/<name>.py`` with ``args``, in :func:`clean_env` plus ``env``.

    Its stdin, stdout and stderr are pipes (text): a script can wait for lines on stdin and answer on stdout.
    """
    script = workdir / f"{name}.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.Popen([sys.executable, str(script), *args], env=clean_env(**env), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    """Close the script's stdin, wait for it to exit with 0 and no traceback; return its standard output."""
    out, err = proc.communicate(input="", timeout=timeout)
    assert proc.returncode == 0 and "Traceback" not in err, err
    return out
