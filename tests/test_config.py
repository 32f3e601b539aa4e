"""Settings come from the environment and configure(); bad values fail early with a clear message."""

from __future__ import annotations

import pytest

import zgen_otel
from zgen_otel.config import ConfigError, load_settings


def test_defaults_match_the_seed() -> None:
    s = load_settings({})
    assert (s.enabled, s.interval, s.retention_days, s.alerting_enabled, s.alerting_notifications) == (
        True,
        60.0,
        30.0,
        True,
        True,
    )
    assert s.service_name == "zgen-agent"
    assert s.otlp_endpoint is None and s.store_path is None


def test_environment_is_read() -> None:
    s = load_settings(
        {
            "MONITORING_ENABLED": "false",
            "MONITORING_INTERVAL": "2.5",
            "METRICS_RETENTION_DAYS": "7",
            "ALERTING_ENABLED": "0",
            "ALERTING_NOTIFICATIONS": "no",
            "OTEL_SERVICE_NAME": "my-agent",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer x,team=ai",
            "ZGEN_OTEL_STORE_PATH": "/tmp/x.db",
        }
    )
    assert not s.enabled and s.interval == 2.5 and s.retention_days == 7 and s.retention_seconds == 7 * 86400
    assert not s.alerting_enabled and not s.alerting_notifications
    assert s.service_name == "my-agent" and s.store_path == "/tmp/x.db"
    assert s.signal_endpoint("metrics") == "http://127.0.0.1:4318" and s.signal_protocol("traces") == "grpc"
    assert s.otlp_headers == {"authorization": "Bearer x", "team": "ai"}


@pytest.mark.parametrize(
    ("var", "value", "allowed"),
    [
        ("MONITORING_INTERVAL", "abc", "a number of seconds > 0"),
        ("MONITORING_INTERVAL", "0", "a number of seconds > 0"),
        ("MONITORING_INTERVAL", "-5", "a number of seconds > 0"),
        ("MONITORING_INTERVAL", "nan", "a number of seconds > 0"),
        ("METRICS_RETENTION_DAYS", "lots", "a number of days > 0"),
        ("MONITORING_ENABLED", "maybe", "true or false"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "grpc or http/protobuf"),
        ("ZGEN_OTEL_MAX_SERIES", "1.5", "a whole number > 0"),
    ],
)
def test_bad_environment_names_variable_value_and_rule(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, allowed: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        zgen_otel.configure()
    assert var in str(err.value) and repr(value) in str(err.value) and allowed in str(err.value)


def test_bad_environment_fails_on_first_lazy_use_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITORING_INTERVAL", "abc")
    with pytest.raises(ConfigError, match="MONITORING_INTERVAL='abc'"):
        zgen_otel.record_metric("x", 1)


def test_keywords_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITORING_INTERVAL", "30")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    s = zgen_otel.configure(interval=5, service_name="from-code")
    assert s.interval == 5.0 and s.service_name == "from-code"
    assert zgen_otel.get_runtime().settings is s


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"interval": 0}, "interval=0"),
        ({"interval": "abc"}, "interval='abc'"),
        ({"interval": True}, "interval=True"),
        ({"enabled": "maybe"}, "enabled='maybe'"),
        ({"enabled": 1}, "enabled=1"),
        ({"max_series": 2.5}, "max_series=2.5"),
        ({"max_raw_points": 4}, "max_raw_points=4"),
        ({"interval": 0.00001}, "interval=1e-05 is not valid: expected 0.001 to 100,000,000 seconds"),
        ({"export_interval": 1e9}, "export_interval=1000000000.0 is not valid: expected 0.001 to 100,000,000 seconds"),
        ({"otlp_headers": {"a": 1}}, "otlp_headers="),
        ({"no_such_setting": 1}, "no_such_setting"),
    ],
)
def test_bad_keywords_are_rejected(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        zgen_otel.configure(**kwargs)
    assert fragment in str(err.value)


def test_a_rejected_configure_keeps_the_running_runtime() -> None:
    zgen_otel.configure(interval=7)
    zgen_otel.record_metric("kept", 1.0)
    with pytest.raises(ConfigError):
        zgen_otel.configure(interval=-1)
    assert zgen_otel.get_runtime().settings.interval == 7
    assert zgen_otel.get_latest_value("kept") == 1.0
