"""Soak and cardinality attack, CI-sized: the same runs as benchmarks/bench_soak.py and bench_cardinality.py.

* A 60 s soak at 2,000 samples/s over 500 series through ``record_metric``, with three metric rules on those
  series, the default rules, a notification channel and the system monitor sweeping every second, and
  ``max_raw_points=16`` so every series rolls up about once a second. The RSS slope after a 20 s warm-up must stay
  under 2 MiB/min: on the 2-core dev VM it measured 0.34-0.39 MiB/min, most of it the alert history (about 100
  alerts a minute with the default 30-day retention) and the minute buckets that rollup adds; a leak of 16 bytes a
  sample would add 1.8 MiB/min. Every accepted sample must be in the store (raw points plus the counts of the
  rolled-up buckets), and the store within what ``max_series`` and ``max_raw_points`` allow.
* 1,000,000 distinct attribute sets on one metric with the default ``max_series`` (10,000): the cap holds,
  every call past it is counted, the OTel stream stops at the SDK's 2,000 sets plus one ``otel.metric.overflow``
  point, existing series still record, and RSS grows by at most 16 MiB + 4 KiB per allowed series (55 MiB; it
  measured 19.3 MiB, about 2 KiB per series; without the cap the million series would take about 2 GiB) and
  by at most 4 MiB past the cap (it measured 0).

Both take about 75 s together on the dev VM; the soak runs a second time when the process stalls for over a
second (a paused or starved VM: pages reclaimed meanwhile make RSS incomparable across the stall). Two more tests
pin down state that grew without bound before the soak found it: the alert manager's record of notified alerts,
and metric names past the series cap.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SLOPE_BOUND_MIB_MIN = 2.0


@pytest.fixture(scope="module")
def bench() -> SimpleNamespace:
    """The two benchmark scripts as modules (the benchmarks folder on sys.path while they import ``_common``)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import bench_cardinality
        import bench_soak
    finally:
        sys.path.remove(str(BENCHMARKS))
    return SimpleNamespace(soak=bench_soak, cardinality=bench_cardinality)


@pytest.fixture
def quiet_alerts() -> Iterator[None]:
    """Keep the soak's alert log lines (about 200 a minute) out of pytest's log capture, which holds every record."""
    logger = logging.getLogger("zgen_otel.alerts")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def test_soak_steady_load_holds_memory_and_loses_nothing(bench: SimpleNamespace, quiet_alerts: None) -> None:
    def soak() -> dict[str, Any]:
        return bench.soak.run_soak(  # type: ignore[no-any-return]
            duration=60, rate=2000, n_series=500, max_raw_points=16, retention=30 * 86_400, warmup=20, sample_every=1
        )

    r = soak()
    if r["stalls"]:  # the process got no CPU for over a second (a paused or starved VM): RSS is not comparable
        r = soak()  # (pages may be reclaimed meanwhile and touched again after), so the run is repeated once
    assert not r["stalls"], f"the process stalled in two runs out of two: {r['stalls']}"
    store, alerts = r["store"], r["alerts"]
    slope = r["rss_slope_mib_per_min"]
    summary = (
        f"rate {r['achieved_rate']:.0f}/s, RSS {r['rss_warmup_end_mib']:.1f} -> {r['rss_end_mib']:.1f} MiB, "
        f"slope {slope:+.3f} MiB/min, store {store}, accounting {r['accounting']}"
    )
    # the load was applied (a loaded CI runner may fall a little behind the schedule, never far)
    assert r["samples_recorded"] >= 0.97 * 60 * 2000, summary
    assert r["achieved_rate"] >= 0.97 * 2000, summary
    # the rules and the monitor were running
    assert alerts["notifications"] > 0 and alerts["history_end"] > 0, alerts
    assert all(info["errors"] == 0 for info in alerts["rules"].values()), alerts["rules"]
    assert store["series"] > 500, store  # the soak series plus the system monitor's
    # memory: no growth after the warm-up beyond the bound
    assert r["rss_fit_points"] >= 30, summary
    assert slope <= SLOPE_BOUND_MIB_MIN, summary
    # the store within its bounds
    assert store["series_max"] <= r["settings"]["max_series"], summary
    assert store["points_max_after_warmup"] <= store["points_bound"], summary
    assert store["overflow_dropped"] == 0 and r["dropped_nonfinite"] == 0, summary
    # every accepted sample is in the store (no retention cut in 60 s: the check is exact)
    acc = r["accounting"]
    assert acc["checked"] and acc["cut_at"] is None, acc
    assert acc["stored"] == acc["expected"] == r["samples_recorded"], acc


def test_a_million_attribute_sets_on_one_metric_are_capped_and_counted(bench: SimpleNamespace) -> None:
    card = bench.cardinality
    r = card.run_attack(calls=1_000_000, max_series=10_000, existing=100)
    store, otel = r["store"], r["otel"]
    summary = {k: v for k, v in r.items() if k != "chunks"}
    # the metric's cap holds (its 2,000 sets plus its overflow series) and every folded call is counted
    per_metric = r["max_series_per_metric"]
    assert store["series"] == per_metric + 1, summary
    assert r["creating_calls"] == per_metric - 100, summary
    assert store["overflow_folded"] == 1_000_000 - r["creating_calls"] and store["overflow_dropped"] == 0, summary
    assert r["latecomer_stored"], summary  # a new metric still records: the attack is contained to its metric
    assert r["recorder_cache"] <= 10_000, summary
    assert r["store_warnings"] <= 2, summary  # rate-limited: one a minute
    # existing series keep recording, at the usual cost (a generous bound: the point is no per-call slow-down)
    assert r["existing_still_record"] == 100, summary
    assert r["us_existing_after"] <= 3 * r["us_existing_before"] + 2, summary
    # a call past the cap stays cheap: no work proportional to what was dropped before
    assert r["us_per_call_overflow"] <= 100, summary
    assert r["us_per_call_overflow_last_chunk"] <= 4 * r["us_per_call_overflow"] + 5, summary
    # RSS bounded by the series the cap lets in, and flat past the cap
    assert r["rss_growth_mib"] <= r["rss_bound_mib"], summary
    assert r["rss_growth_after_cap_mib"] <= r["rss_after_cap_bound_mib"], summary
    # the OTel side: the SDK keeps 2,000 attribute sets per stream and folds the rest into one overflow point
    assert otel["points"] == card.SDK_LIMIT + 1, otel
    assert otel["overflow_points"] == 1, otel
    assert r["otel_second_collection"]["points"] == card.SDK_LIMIT + 1, r["otel_second_collection"]


# -- state that once grew without bound (found by the soak; see benchmarks/README.md, "Soak") --------------------
def test_alert_churn_with_a_channel_keeps_the_alert_manager_bounded(quiet_alerts: None) -> None:
    import zgen_otel
    from zgen_otel.alerting import Notifier, get_alert_manager

    class Sink(Notifier):
        def send(self, notifications: object) -> None:
            pass

    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False, retention_days=60 / 86_400)
    manager = get_alert_manager()
    manager.add_notifier(Sink())
    manager.add_metric_rule("churn", "fires and resolves", "t.v", threshold=50)
    for _ in range(2000):  # 2,000 alerts fired and resolved, each notified
        zgen_otel.record_metric("v", 100.0, "t")
        zgen_otel.record_metric("v", 0.0, "t")
    manager.evaluate(zgen_otel.get_runtime().clock() + 120)  # every alert is now past the 60 s retention
    assert manager.get_alert_history() == [] and manager.get_active_alerts() == []
    assert len(manager._notified) <= 100, len(manager._notified)


def test_distinct_metric_names_past_the_series_cap_are_not_registered() -> None:
    import zgen_otel

    zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False, max_series=100)
    for i in range(2000):
        zgen_otel.record_metric(f"n{i}", 1.0, "attack")
    rt = zgen_otel.get_runtime()
    assert rt.store.stats()["series"] == 100 and rt.store.overflow_dropped == 1900
    assert rt.metrics is not None
    assert len(rt.metrics.recorded_names()) <= 100, len(rt.metrics.recorded_names())


def test_a_million_distinct_operation_names_add_at_most_100_mib(bench: SimpleNamespace) -> None:
    r = bench.cardinality.run_operations(calls=1_000_000)
    summary = {k: v for k, v in r.items() if k != "rss_per_chunk_mib"}
    assert r["rss_growth_mib"] <= 100, summary
    assert r["operations"] == 2001 and r["other_calls"] == r["overflow_calls"] == 1_000_000 - 1999, summary
    assert r["new_metric_stored"], summary
    assert r["store"]["series_metrics"] == 1 and r["store"]["dropped_metrics"] == 0, summary
