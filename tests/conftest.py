"""Shared fixtures: every test starts and ends with no zgen_otel runtime and no zgen_otel environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.binaries import require_binary
from zgen_otel.config import ENV_VARS
from zgen_otel.testing import reset


@pytest.fixture(autouse=True)
def _clean_runtime(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    for spec in ENV_VARS.values():
        monkeypatch.delenv(spec.env, raising=False)
    # A host-election lock of the tests' own, so another zgen_otel process on this machine changes nothing.
    monkeypatch.setenv("ZGEN_OTEL_HOST_LOCK", str(tmp_path_factory.mktemp("lock") / "host.lock"))
    for name in ("OTEL_RESOURCE_ATTRIBUTES", "OTEL_METRICS_EXPORTER", "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    reset()
    yield
    reset()


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Debian's headless Chromium driven by Playwright (never a downloaded browser), fresh profile.

    Module-scoped: Playwright's sync API keeps an event loop running until it stops, which would break
    ``asyncio.run`` in the tests of other modules.
    """
    chromium = require_binary("chromium")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=chromium, args=CHROMIUM_ARGS, viewport={"width": 1300, "height": 900}
        )
        yield context
        context.close()
