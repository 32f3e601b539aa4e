"""Screenshots of every page of the web page, light and dark, taken from a real run: the docs' images.

Run: ``python docs/screenshots.py [--out DIR] [--seconds N] [--chromium PATH]`` (default: ``docs/images``, 40 s,
``/usr/bin/chromium``). A small agent runs in this process for N seconds (LLM calls with token counts and cost,
tools, one that fails now and then, a scheduled task, a custom metric, alert rules and alerts, log lines), the web
page is served on 127.0.0.1 by ``zgen_otel.start_server``, and Debian's headless Chromium, driven by Playwright,
opens each page at 1400 x 900 px in the light and the dark colour scheme. Each shot is the first screen of a page,
taken once the live script is running and paused, so nothing moves; then each PNG is reduced to at most 256
colours. Writes ``<page>-<light|dark>.png`` and prints each file and its size.
Needs Playwright and Pillow (``pip install -e '.[docs]'``) and Chromium (``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any, Literal

import zgen_otel
from zgen_otel.alerting import AlertSeverity, get_alert_manager, trigger_alert
from zgen_otel.dashboards import get_dashboard_manager
from zgen_otel.llm import PriceTable, llm_call, set_price_table
from zgen_otel.tasks import task
from zgen_otel.traces import get_recent_traces

IMAGES = Path(__file__).resolve().parent / "images"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's, never a downloaded one
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
WIDTH, HEIGHT = 1400, 900  # the first screen of a wide window
SCHEMES: tuple[Literal["light", "dark"], ...] = ("light", "dark")
MAX_BYTES = 120_000  # the size each image is reduced to, when fewer colours get it there
COLOURS = (256, 128, 64)  # tried in turn until an image is at most MAX_BYTES

log = logging.getLogger("research_agent")
rng = random.Random(7)  # the same run each time, but for the timings


@zgen_otel.track("web_search")
def web_search(query: str) -> list[str]:
    """A tool: a few canned results after a search's wait."""
    time.sleep(rng.uniform(0.02, 0.09))
    return [f"{query}: result {n}" for n in range(rng.randint(1, 6))]


@zgen_otel.track("calculator")
def calculator(expression: str) -> float:
    """A tool that divides; it fails on a division by zero."""
    time.sleep(rng.uniform(0.002, 0.01))
    left, _, right = expression.partition("/")
    return float(left) / float(right)


@task("refresh_index")
def refresh_index() -> None:
    """A scheduled job: the search index is refreshed now and then."""
    time.sleep(rng.uniform(0.05, 0.15))
    log.info("search index refreshed")


def agent_turn(turn: int) -> None:
    """One turn of the agent: a planning LLM call, a search, a calculation (one in six fails), an answer."""
    with zgen_otel.track_context("agent.turn", attributes={"turn": turn}):
        model = "demo-large" if turn % 4 == 0 else "demo-small"
        with llm_call(model=model, provider="demo") as call:
            time.sleep(rng.uniform(0.05, 0.2))
            call.set_usage(rng.randint(400, 1600), rng.randint(40, 300))
        results = web_search(f"question {turn}")
        zgen_otel.record_metric("documents_retrieved", len(results), "retrieval")
        if len(results) < 2:
            log.warning("turn %d: the search found too few documents, answering anyway", turn)
        try:
            calculator("1/0" if turn % 6 == 5 else f"{turn}/3")
        except ZeroDivisionError:
            log.exception("turn %d: the calculator tool failed", turn)
            trigger_alert("calculator_failed", "the calculator tool divided by zero", AlertSeverity.ERROR, "tools")
        with llm_call(model="demo-small", provider="demo") as call:
            time.sleep(rng.uniform(0.03, 0.1))
            call.set_usage(rng.randint(800, 2400), rng.randint(100, 400))
        log.info("turn %d answered, sources: %d", turn, len(results))


def run_agent(stop: threading.Event) -> None:
    """Agent turns until ``stop`` is set, the scheduled task every tenth turn; the queue of questions drifts."""
    turn, queue = 0, 3
    while not stop.is_set():
        agent_turn(turn)
        queue = min(max(queue + rng.choice((-1, 0, 1, 1)), 0), 15)  # questions arrive a little faster than answered
        zgen_otel.record_metric("queue_depth", queue, "agent")
        if turn % 10 == 0:
            refresh_index()
        turn += 1
        stop.wait(rng.uniform(0.05, 0.3))


def set_up() -> None:
    """zgen_otel configured for a short run: a sample every 2 s, prices, two alert rules."""
    zgen_otel.configure(interval=2, service_name="research-agent", system_monitor=True)
    set_price_table(PriceTable({"demo-small": (0.15, 0.60), "demo-large": (2.50, 10.00)}, currency="USD"))
    alerts = get_alert_manager()
    alerts.add_metric_rule("queue_backlog", "more than 10 questions wait for the agent", "agent.queue_depth",
                           threshold=10, severity=AlertSeverity.WARNING, category="agent")  # fmt: skip
    alerts.add_metric_rule("llm_budget", "LLM spend above $0.01 in 5 minutes", "zgen.llm.cost", threshold=0.01,
                           aggregate="increase", window=300, category="cost")  # fmt: skip


def pages() -> dict[str, str]:
    """Every page: file name stem -> path under the server (the index, each dashboard, a failing trace)."""
    failing = get_recent_traces(status="error", limit=1) or get_recent_traces(limit=1)
    if not failing:
        raise RuntimeError("the agent recorded no trace: run it longer (--seconds)")
    found = {"index": "/monitoring"}
    found.update({d.name: f"/monitoring/{d.name}" for d in get_dashboard_manager().list_dashboards()})
    found["trace"] = f"/monitoring/traces/{failing[0]['trace_id']}"
    return found


def shoot(base: str, out: Path, chromium: Path) -> list[Path]:
    """Open every page at ``base`` in ``chromium``, light and dark; write the first screen of each as a PNG."""
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            for scheme in SCHEMES:
                context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, color_scheme=scheme)
                for name, path in pages().items():
                    page = context.new_page()
                    page.goto(base + path)
                    page.locator("#zgen-status").wait_for()
                    page.click("#zgen-pause")  # the live refresh stops: the shot shows one moment
                    page.locator("body[data-live=paused]").wait_for()
                    target = out / f"{name}-{scheme}.png"
                    page.screenshot(path=str(target))
                    written.append(target)
                    page.close()
                context.close()
        finally:
            browser.close()
    return written


def optimise(png: Path) -> int:
    """Reduce ``png`` to a palette of at most 256 colours (fewer if still over MAX_BYTES); its size in bytes."""
    from PIL import Image

    with Image.open(png) as opened:
        image = opened.convert("RGB")
    for colours in COLOURS:
        image.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(png, optimize=True)
        if png.stat().st_size <= MAX_BYTES:
            break
    return png.stat().st_size


def check_tools(chromium: Path) -> None:
    """Exit with one line naming what is missing: Chromium at ``chromium``, Playwright or Pillow."""
    if not chromium.is_file():
        sys.exit(f"screenshots.py: Chromium is not installed at {chromium} (apt-get install chromium)")
    for module, package in (("playwright", "playwright"), ("PIL", "pillow")):
        try:
            __import__(module)
        except ImportError:
            sys.exit(f"screenshots.py: the Python package {package} is missing (pip install -e '.[docs]')")


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, run the agent, take and optimise the screenshots, print each file and its size."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=IMAGES, help="folder for the PNGs (docs/images)")
    parser.add_argument("--chromium", type=Path, default=CHROMIUM, help=f"the Chromium binary ({CHROMIUM})")
    parser.add_argument("--seconds", type=float, default=40.0, help="how long the agent runs first (40)")
    args: Any = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error(f"--seconds must be a number of seconds > 0; got {args.seconds}")
    check_tools(args.chromium)
    args.out.mkdir(parents=True, exist_ok=True)
    log.addHandler(logging.NullHandler())  # the agent's log lines go to the logs page, not to this terminal
    set_up()
    stop = threading.Event()
    agent = threading.Thread(target=run_agent, args=(stop,), name="agent", daemon=True)
    try:
        handle = zgen_otel.start_server(port=0)
        agent.start()
        time.sleep(args.seconds)
        stop.set()
        agent.join()
        written = shoot(f"http://127.0.0.1:{handle.port}", args.out, args.chromium)
    finally:
        stop.set()
        zgen_otel.shutdown()
    total = 0
    for png in written:
        size = optimise(png)
        total += size
        print(f"{png}  {size / 1000:.1f} kB")
    print(f"{len(written)} images, {total / 1000:.1f} kB in all")


if __name__ == "__main__":
    main()
