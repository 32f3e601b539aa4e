"""The program's own logging prints exactly what it printed before zgen_otel was used, and is still captured.

Each program runs twice in a subprocess, the same source both times: without zgen_otel, and with
``zgen_otel.configure()`` at the marked line. Its stderr must be byte for byte the same; the second run also
prints, on stdout, the records zgen_otel captured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from zgen_otel.config import ENV_VARS

# Line for line the same in both runs (so tracebacks name the same lines): start() and captured() do nothing
# in the run without zgen_otel.
PRELUDE = """\
import json, logging, logging.config, os, sys
WITH = os.environ.get("WITH_ZGEN") == "1"
def start():
    if WITH:
        import zgen_otel
        zgen_otel.configure(system_monitor=False, default_rules=False, host_lock="none")
def captured():
    if WITH:
        from zgen_otel.logs import get_recent_logs
        print(json.dumps([[r["level"], r["logger"], r["message"]] for r in reversed(get_recent_logs(limit=1000))]))
log = logging.getLogger("agent.tools")
"""

UNCONFIGURED = """\
start()
log.debug("debug %d", 1)
log.info("info %d", 1)
log.warning("warning %d", 1)
log.error("error %s", "one")
try:
    {}["missing"]
except KeyError:
    log.exception("a tool failed")
logging.getLogger("agent").critical("critical")
captured()
"""


def run(body: str, with_zgen: bool) -> tuple[str, str]:
    """Run PRELUDE + ``body`` in a fresh interpreter; its (stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if k not in {spec.env for spec in ENV_VARS.values()}}
    env["WITH_ZGEN"] = "1" if with_zgen else "0"
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(body)],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout, done.stderr


def before_and_after(body: str) -> tuple[str, str, list[list[str]]]:
    """The stderr without and with zgen_otel, and the records zgen_otel captured as (level, logger, message)."""
    _, before = run(body, with_zgen=False)
    out, after = run(body, with_zgen=True)
    captured: list[list[str]] = json.loads(out.splitlines()[-1])
    return before, after, captured


def messages(captured: list[list[Any]]) -> list[str]:
    return [message for _, _, message in captured]


def test_a_program_that_never_configured_logging_prints_its_warnings_as_before() -> None:
    before, after, captured = before_and_after(UNCONFIGURED)
    assert after == before
    # Python's last-resort handler: the bare message on stderr, WARNING and above, the traceback included.
    assert before.startswith("warning 1\nerror one\na tool failed\nTraceback (most recent call last):\n")
    assert before.endswith("KeyError: 'missing'\ncritical\n")
    assert messages(captured) == ["info 1", "warning 1", "error one", "a tool failed", "critical"]
    assert captured[0] == ["INFO", "agent.tools", "info 1"]


def test_zgen_otel_s_own_warnings_show_the_same_way() -> None:
    body = """\
    start()
    log.warning("before")
    if WITH:
        import zgen_otel
        zgen_otel.record_metric("agent.score", float("nan"))
    captured()
    """
    before, after, captured = before_and_after(body)
    assert before == "before\n"
    assert after == "before\nzgen_otel dropped non-finite nan for 'agent.score'\n"
    assert "zgen_otel dropped non-finite nan for 'agent.score'" in messages(captured)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            """\
            logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
            start()
            """,
            id="basicConfig-before",
        ),
        pytest.param(
            """\
            start()
            logging.basicConfig(format="%(levelname)s %(name)s %(filename)s:%(lineno)d %(funcName)s: %(message)s")
            """,
            id="basicConfig-after",
        ),
        pytest.param(
            """\
            start()
            logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
            """,
            id="basicConfig-INFO-after",
        ),
        pytest.param(
            """\
            start()
            mine = logging.StreamHandler(sys.stderr)
            mine.setFormatter(logging.Formatter("mine %(levelname)s %(message)s"))
            logging.getLogger("agent").addHandler(mine)
            """,
            id="handler-on-a-logger-after",
        ),
        pytest.param(
            """\
            logging.config.dictConfig({
                "version": 1,
                "formatters": {"short": {"format": "%(name)s|%(levelname)s|%(message)s"}},
                "handlers": {"err": {"class": "logging.StreamHandler", "formatter": "short", "stream": "ext://sys.stderr"}},
                "loggers": {"agent.tools": {"handlers": ["err"], "level": "DEBUG", "propagate": False}},
                "root": {"handlers": ["err"], "level": "ERROR"},
            })
            start()
            """,
            id="dictConfig",
        ),
    ],
)
def test_a_program_that_configured_logging_sees_exactly_its_configured_output(body: str) -> None:
    program = textwrap.dedent(body) + textwrap.dedent("""\
        log.debug("debug %d", 1)
        log.info("info %d", 1)
        log.warning("warning %d", 1)
        logging.getLogger("agent").info("agent info")
        logging.getLogger("agent").error("agent error")
        logging.info("module-level info")
        logging.error("module-level error")
        captured()
        """)
    before, after, captured = before_and_after(program)
    assert after == before
    assert "warning 1" in before and "agent error" in before and "module-level error" in before
    assert {"agent error", "module-level error"} <= set(messages(captured))  # what reaches the root logger


def test_records_handed_to_a_logger_directly_reach_its_handlers_as_before() -> None:
    body = """\
    start()
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    # A log server's pattern: records made elsewhere, handed to a logger whatever its level.
    for level in (logging.DEBUG, logging.INFO, logging.WARNING):
        record = logging.makeLogRecord({"name": "worker", "levelno": level, "levelname": logging.getLevelName(level),
                                        "msg": "from a worker at %s", "args": (logging.getLevelName(level),)})
        logging.getLogger(record.name).handle(record)
    captured()
    """
    before, after, captured = before_and_after(body)
    assert after == before
    assert before.splitlines() == [f"{lvl} worker: from a worker at {lvl}" for lvl in ("DEBUG", "INFO", "WARNING")]
    assert messages(captured) == ["from a worker at INFO", "from a worker at WARNING"]


def test_the_root_logger_gets_its_level_back_at_shutdown() -> None:
    body = """\
    start()
    print(logging.getLogger().getEffectiveLevel() < logging.INFO)
    if WITH:
        import zgen_otel
        zgen_otel.shutdown()
    print(logging.getLevelName(logging.getLogger().level), logging.Logger.callHandlers.__module__)
    """
    out, _ = run(body, with_zgen=True)
    assert out.splitlines() == ["True", "WARNING logging"]
