"""Scheduled tasks: runs, duration, failures, the time of the last success, and a staleness alert.

``@task("nightly_sync")`` (sync or async functions) or ``with task_run("nightly_sync"):`` tracks a run as the
operation ``task:<name>`` (span, ``zgen.operation.*`` metrics, statistics — see ``performance``), and on
success records ``task.last_success`` (gauge, Unix seconds, attribute ``task``).
``add_staleness_rule("nightly_sync", max_age=86_400)`` alerts when the task has not succeeded for that long.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from zgen_otel import _current
from zgen_otel._util import safe_repr
from zgen_otel._validate import positive_seconds
from zgen_otel.alerting import AlertSeverity, CustomRule, get_alert_manager
from zgen_otel.metrics import get_latest_value, record_metric
from zgen_otel.performance import track_context

__all__ = ["add_staleness_rule", "last_success", "task", "task_run"]

F = TypeVar("F", bound=Callable[..., Any])


def _check(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"task name must be a non-empty str; got {safe_repr(name)}")
    return name


def task_run(name: str) -> AbstractContextManager[None]:
    """Track one run of a scheduled task, used as a ``with`` block; a run that raises is a failure.

    Args:
        name: the task's name.

    Returns:
        A context manager around the run; the exception of a failed run is re-raised.

    Raises:
        ValueError: ``name`` is not a non-empty str.
    """
    return _run(_check(name))


@contextmanager
def _run(name: str) -> Iterator[None]:
    with track_context(f"task:{name}", attributes={"zgen.task.name": name}):
        yield
    record_metric("last_success", _current.get_runtime().clock(), "task", attributes={"task": name}, unit="s")


def task(name: str | None = None) -> Callable[[F], F]:
    """Decorate a scheduled job (sync or async): each call is one tracked run of the task.

    Args:
        name: the task's name; defaults to the function's name.

    Returns:
        The decorator.

    Raises:
        ValueError: ``name`` is not a non-empty str (at once, not when the decorator is applied).
    """
    if name is not None:
        _check(name)

    def decorator(fn: F) -> F:
        run_name = _check(name or getattr(fn, "__name__", ""))
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with task_run(run_name):
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with task_run(run_name):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def last_success(name: str) -> float | None:
    """Tell when a scheduled task last succeeded.

    Args:
        name: the task's name.

    Returns:
        The time of its last success (Unix seconds), or None when it never succeeded.

    Raises:
        ValueError: ``name`` is not a non-empty str.
    """
    return get_latest_value("task.last_success", attributes={"task": _check(name)})


def add_staleness_rule(
    name: str, max_age: float, severity: AlertSeverity | str = AlertSeverity.WARNING, *, replace: bool = False
) -> CustomRule:
    """Alert ``task_stale_<name>`` when the task has not succeeded for ``max_age`` seconds.

    A task that never succeeded counts from the moment the rule was added.

    Args:
        name: the task's name, as given to ``task`` or ``task_run``.
        max_age: seconds without a success before the alert fires.
        severity: the alert's severity (an ``AlertSeverity`` or its name).
        replace: replace a rule of the same name instead of refusing it.

    Returns:
        The rule added to the alert manager.

    Raises:
        ValueError: a bad task name (it also has to make a valid rule name), a ``max_age`` that is not a finite
            number of seconds > 0, or an unknown severity.
        DefinitionError: a rule of that name exists and ``replace`` is False.
    """
    _check(name)
    max_age = positive_seconds("max_age", max_age)
    manager = get_alert_manager()
    since = manager.clock()

    def stale() -> tuple[bool, float]:
        age = manager.clock() - (last_success(name) or since)
        return age > max_age, age

    return manager.add_rule(f"task_stale_{name}", f"task {name} has not succeeded for {max_age:g} s", stale,
                            severity, "task", labels={"task": name}, replace=replace)  # fmt: skip
