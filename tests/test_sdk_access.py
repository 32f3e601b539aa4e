"""Every shortcut through an OTel SDK private attribute works with the installed SDK versions.

``zgen_otel._sdk`` keeps each shortcut with a public fallback, so an SDK upgrade that moves a private part
would silently lose speed or drop counts; this test makes such an upgrade fail loudly instead.
"""

from __future__ import annotations

from zgen_otel import _sdk


def test_every_sdk_fast_path_is_active() -> None:
    paths = _sdk.fast_paths()
    assert paths, "no fast path probed"
    assert [name for name, active in paths.items() if not active] == []
