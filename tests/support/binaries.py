"""The Debian binaries some tests drive: promtool, Prometheus, Alertmanager, Chromium, Node.js and npm."""

from __future__ import annotations

import os
import shutil

import pytest


def require_binary(path: str) -> str:
    """A Debian binary a test needs: skipped where it is not installed, but required in CI (CI=true)."""
    found = shutil.which(path)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{path} is required in CI (.ci/run installs it)")
        pytest.skip(f"{path} is not installed (apt-get install it, as .ci/run does)")
    return found
