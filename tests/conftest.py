"""Shared fixtures: every test starts and ends with no zgen_otel runtime and no zgen_otel environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from zgen_otel.config import ENV_VARS
from zgen_otel.testing import reset


@pytest.fixture(autouse=True)
def _clean_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for spec in ENV_VARS.values():
        monkeypatch.delenv(spec.env, raising=False)
    for name in ("OTEL_RESOURCE_ATTRIBUTES", "OTEL_METRICS_EXPORTER", "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    reset()
    yield
    reset()
