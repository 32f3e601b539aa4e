"""Every shortcut through an OTel SDK private attribute works with the installed SDK versions.

``zgen_otel._sdk`` keeps each shortcut with a public fallback, so an SDK upgrade that moves a private part
would silently lose speed or drop counts; this test makes such an upgrade fail loudly instead.
"""

from __future__ import annotations

import sys

import pytest

from zgen_otel import _sdk


def test_every_sdk_fast_path_is_active() -> None:
    paths = _sdk.fast_paths()
    assert paths, "no fast path probed"
    assert [name for name, active in paths.items() if not active] == []


def test_a_provider_without_update_resource_is_left_alone() -> None:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import NoOpTracerProvider

    sdk = TracerProvider(resource=Resource({"service.instance.id": "parent", "service.name": "svc"}))
    tracer = sdk.get_tracer("probe")  # handed out before the fork
    other = NoOpTracerProvider()  # no resource to update: the SDK path is missing, as in an older SDK
    assert _sdk.update_resource_after_fork([sdk, other], Resource({"service.instance.id": "child"})) is False
    assert sdk.resource.attributes["service.instance.id"] == "parent"  # none touched, not half of them
    assert _sdk.update_resource_after_fork([sdk], Resource({"service.instance.id": "child"})) is True
    span = tracer.start_span("after the fork")
    span.end()
    assert dict(span.resource.attributes) == {"service.instance.id": "child", "service.name": "svc"}  # type: ignore[attr-defined]


def test_prometheus_names_without_the_exporters_private_module_run_the_exporter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where an exporter version moved its name functions, running the exporter gives the same names."""
    sanitize, map_unit = _sdk.prometheus_naming()  # the exporter's own functions (and its package imported)
    monkeypatch.setitem(sys.modules, _sdk.PROMETHEUS_MAPPING_MODULE, None)  # as if moved: no longer importable
    assert _sdk.fast_paths()["prometheus_naming"] is False
    slow_sanitize, slow_unit = _sdk.prometheus_naming()
    assert slow_unit is not map_unit
    for unit in ("1", "W", "By/s", "{x}/s", "min", "h", "KiBy", "MBy", "m/s", "Hz", "us", "%", "By", "s", "", "By/{x}"):
        assert slow_unit(unit) == map_unit(unit), unit
    for name in ("system.cpu_percent", "gen_ai.client.token.usage", "a-b/c_d"):
        assert slow_sanitize(name) == sanitize(name), name
    with pytest.raises(ValueError, match="'9lives' \\(unit ''\\) is not a valid OTel instrument name"):
        slow_sanitize("9lives")
