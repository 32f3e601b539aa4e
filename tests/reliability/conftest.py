"""The reliability suite: faults, load, bad input and secrets.

Every test here is marked ``reliability``; the default ``pytest`` run leaves them out (they take minutes),
``.ci/run`` runs them with ``pytest -m reliability``.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/reliability/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.reliability)
