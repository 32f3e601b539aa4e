"""Several processes of one service exporting OTLP to one receiver, as to a ``zgen-otel serve`` on this host.

Each process has its own resource identity (a forked child too), each shows the host in its local views
while only one ships the host-wide series, and metrics reach a backend on this machine within seconds.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import zgen_otel
from tests.support.otlp import OtlpReceiver


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver("http/protobuf") as receiver:
        try:
            yield receiver
        finally:
            zgen_otel.shutdown()  # the last export while the receiver still listens


# -- 1. resource identity ------------------------------------------------------------------------------------------


def _exported_by(receiver: OtlpReceiver) -> dict[str, list[dict[str, Any]]]:
    """The resources of the ``forks.step`` points and ``forks.work`` spans, by their ``who`` attribute."""
    found: dict[str, list[dict[str, Any]]] = {}
    for point in receiver.metric_points():
        if point.name == "forks.step":
            found.setdefault(point.attributes["who"], []).append(point.resource)
    for resource, span in receiver.spans():
        if span.name == "forks.work":
            found.setdefault(next(a.value.string_value for a in span.attributes if a.key == "who"), []).append(resource)
    return found


def _record(who: str) -> None:
    """Record a metric and a span as ``who``, and push them to the receiver now."""
    zgen_otel.record_metric("step", 1, "forks", attributes={"who": who})
    with zgen_otel.get_runtime().tracer.start_as_current_span("forks.work", attributes={"who": who}):
        pass
    zgen_otel.get_runtime().force_flush()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # forking a process with threads
@pytest.mark.parametrize("user_id", [None, "worker-7"], ids=["generated", "user-set"])
def test_a_forked_child_exports_under_its_own_instance_id_and_pid(
    receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch, user_id: str | None
) -> None:
    if user_id is not None:
        monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"service.instance.id={user_id},deployment.environment=test")
    zgen_otel.configure(
        otlp_endpoint=receiver.endpoint, service_name="forking", interval=3600, export_interval=3600,
        system_monitor=False,
    )  # fmt: skip
    pid = os.fork()  # gunicorn --preload style: the runtime was built in the parent
    if pid == 0:
        code = 1
        try:
            _record("child")
            code = 0
        finally:
            os._exit(code)
    _record("parent")
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert receiver.wait_for(lambda: all(len(_exported_by(receiver).get(w, ())) == 2 for w in ("parent", "child")))

    exported = _exported_by(receiver)
    parent, child = exported["parent"][0], exported["child"][0]
    assert exported["parent"] == [parent, parent] and exported["child"] == [child, child]  # metrics and spans alike
    assert (parent["process.pid"], child["process.pid"]) == (os.getpid(), pid)
    assert parent["service.name"] == child["service.name"] == "forking"
    assert parent["host.name"] == child["host.name"] == socket.gethostname()
    assert parent["service.instance.id"] == user_id or uuid.UUID(parent["service.instance.id"]).version == 4
    assert uuid.UUID(child["service.instance.id"]).version == 4  # the child's own, even where the user set the parent's
    assert child["service.instance.id"] != parent["service.instance.id"]
    if user_id is not None:  # the rest of what the user set is the child's too
        assert parent["deployment.environment"] == child["deployment.environment"] == "test"


def test_user_set_identity_attributes_win(receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=agent-a,host.name=box-1,process.pid=7")
    zgen_otel.configure(otlp_endpoint=receiver.endpoint, interval=3600, export_interval=3600, system_monitor=False)
    _record("me")
    assert receiver.wait_for(lambda: len(_exported_by(receiver).get("me", ())) == 2)
    for resource in _exported_by(receiver)["me"]:
        assert (resource["service.instance.id"], resource["host.name"], resource["process.pid"]) == (
            "agent-a", "box-1", "7"
        )  # fmt: skip
