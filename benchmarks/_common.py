"""Helpers shared by the benchmark scripts in this folder.

The scripts are run as ``python benchmarks/bench_x.py``, which puts this folder on ``sys.path``, so they import
these helpers with a plain ``from _common import ...``. Nothing here is part of the ``zgen_otel`` package.

What lives here: command-line parsing, the version header, the text tables, the timed candidates and the
round-robin order that interleaves them, the PASS/MISS summary and the JSON output.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
import timeit
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, TypeVar

import zgen_otel

T = TypeVar("T")

# Settings that would make a benchmark talk to the outside world are forced back to their defaults.
ISOLATED: dict[str, Any] = {
    "otlp_endpoint": None,
    "otlp_metrics_endpoint": None,
    "otlp_traces_endpoint": None,
    "store_path": None,
}


def configure_isolated(**settings: Any) -> None:
    """Call ``zgen_otel.configure`` with ``settings``, no OTLP endpoint and no store file."""
    zgen_otel.configure(**ISOLATED, **settings)


# -- command line and header ---------------------------------------------------------------------------------
def parse_args(
    argv: list[str] | None, description: str | None, quick_help: str, *, json_output: bool = True
) -> argparse.Namespace:
    """Parse ``--quick`` (and, with ``json_output``, ``--json PATH``) from ``argv``.

    Args:
        argv: the arguments, or None for ``sys.argv[1:]``.
        description: the text ``--help`` shows above the options.
        quick_help: the help line of ``--quick``.
        json_output: whether the script offers ``--json PATH``.

    Returns:
        The parsed arguments: ``quick`` and, with ``json_output``, ``json`` (None when not given).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    if json_output:
        parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    return parser.parse_args(argv)


def first_line(doc: str | None) -> str | None:
    """The first line of a docstring (the one-line summary), or None when there is none."""
    return doc.splitlines()[0] if doc else None


def versions(*dists: str) -> dict[str, str]:
    """Python version, platform and the installed version of each distribution in ``dists``.

    A distribution that is not installed reads ``"not installed"``.
    """
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in dists:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def print_header(
    title: str, profile: str, found: dict[str, str], shown: Sequence[str], extra: Sequence[str] = ()
) -> None:
    """Print ``<title> (<profile> run)`` and one line: python, the ``shown`` versions, platform, ``extra``.

    Args:
        title: what the benchmark is, e.g. ``"zgen_otel metrics benchmark"``.
        profile: the profile's name (``"full"`` or ``"quick"``).
        found: the result of :func:`versions`.
        shown: the distributions to name in the line, in order.
        extra: further fields appended after the platform.
    """
    print(f"{title} ({profile} run)")
    fields = [f"python {found['python']}", *(f"{dist} {found[dist]}" for dist in shown), found["platform"], *extra]
    print(" | ".join(fields))


def max_rss_mb() -> float:
    """Peak resident set size of this process in MB (``ru_maxrss`` is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- tables --------------------------------------------------------------------------------------------------
def print_table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    """Print ``== title ==`` and a table: first column left-aligned, the others right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print(f"\n== {title} ==")
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True)))
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))


# -- interleaved timing --------------------------------------------------------------------------------------
def rotations(items: Iterable[T], rounds: int) -> Iterator[list[T]]:
    """The order to run ``items`` in, for each of ``rounds`` round-robin rounds, rotating who goes first."""
    order = list(items)
    for r in range(rounds):
        shift = r % len(order)
        yield order[shift:] + order[:shift]


@dataclass
class Candidate:
    """One statement timed with ``timeit`` in batches; the figure is the best per-call time over the batches."""

    key: str
    label: str
    stmt: str
    env: dict[str, Any]
    number: int = 0  # calls per batch
    best: float = float("inf")  # seconds per call
    calls: int = 0  # total executions, calibration included
    timer: timeit.Timer | None = field(default=None, repr=False)

    def prepare(self, batch_seconds: float, first_number: int = 50, min_number: int = 200) -> None:
        """Build the timer and pick a batch size so that one batch takes about ``batch_seconds``.

        Calibration starts at ``first_number`` calls and grows fourfold; the batch is never under ``min_number``.
        """
        self.timer = timeit.Timer(self.stmt, globals=self.env)
        number = first_number
        while True:
            elapsed = self.timer.timeit(number)
            self.calls += number
            if elapsed >= batch_seconds / 5 or number >= 10_000_000:
                break
            number *= 4
        self.number = max(min_number, int(number * batch_seconds / max(elapsed, 1e-9)))

    def run_batch(self) -> None:
        """Time one batch and keep the best per-call figure."""
        assert self.timer is not None
        per_call = self.timer.timeit(self.number) / self.number
        self.calls += self.number
        self.best = min(self.best, per_call)

    @property
    def us(self) -> float:
        """Best time per call in microseconds."""
        return self.best * 1e6


def interleave(
    candidates: Sequence[Candidate],
    rounds: int,
    batch_seconds: float,
    *,
    first_number: int = 50,
    min_number: int = 200,
) -> None:
    """Calibrate every candidate, then run one batch of each per round, round-robin, for ``rounds`` rounds."""
    for cand in candidates:
        cand.prepare(batch_seconds, first_number, min_number)
    for order in rotations(candidates, rounds):
        for cand in order:
            cand.run_batch()


def timing_figures(candidates: Iterable[Candidate]) -> dict[str, dict[str, Any]]:
    """The JSON figures of timed candidates: ``us_per_call`` and ``batch_size``, each by candidate key."""
    timed = list(candidates)
    return {
        "us_per_call": {c.key: c.us for c in timed},
        "batch_size": {c.key: c.number for c in timed},
    }


# -- summary and output --------------------------------------------------------------------------------------
def summary_row(target: str, measured: str, passed: bool | None) -> dict[str, Any]:
    """One row of the summary: the target, what was measured, and whether the target was met (None: not measured)."""
    return {"target": target, "measured": measured, "pass": passed}


def _verdict(passed: bool | None) -> str:
    return "n/a" if passed is None else "PASS" if passed else "MISS"


def finish(
    results: dict[str, Any],
    started: float,
    summarize: Callable[[dict[str, Any]], list[dict[str, Any]]],
    json_path: str | None,
    *,
    with_rss: bool = False,
) -> None:
    """Close a run: record the wall time, print the PASS/MISS summary and the wall-time line, write the JSON.

    Adds ``wall_seconds`` (and, with ``with_rss``, ``max_rss_mb``) to ``results``, then ``summary``: the rows
    ``summarize(results)`` returns.

    Args:
        results: the figures so far.
        started: ``time.perf_counter()`` when the run began.
        summarize: turns the figures into rows made by :func:`summary_row`.
        json_path: where to write ``results`` as JSON, or None not to.
        with_rss: whether to record the peak RSS and name it in the wall-time line.
    """
    results["wall_seconds"] = time.perf_counter() - started
    if with_rss:
        results["max_rss_mb"] = max_rss_mb()
    summary = summarize(results)
    results["summary"] = summary
    print_table(
        "Summary",
        ["target", "measured", "result"],
        [[row["target"], row["measured"], _verdict(row["pass"])] for row in summary],
    )
    wall = f"\ntotal wall time {results['wall_seconds']:.1f} s"
    if with_rss:
        wall += f", max RSS {results['max_rss_mb']:.0f} MB"
    print(wall)
    if json_path:
        with open(json_path, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2, default=str)
            fh.write("\n")
        print(f"figures written to {json_path}")
