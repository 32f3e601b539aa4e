"""Load on ``GET /api/monitoring/metrics`` (200 series) from a second process on loopback.

Run: ``python benchmarks/bench_http.py [--quick]``. Starts ``zgen-otel``'s app with uvicorn (one worker) in
a subprocess on 127.0.0.1 with 200 series recorded, then drives it from another process: Debian's ``wrk``
when installed (1 thread, 10 connections: one core for each side), else an asyncio ``httpx`` client with
32 concurrent requests.
Reports requests/s and p50/p99 latency. Targets: >= 1,000 requests/s and p99 <= 50 ms. With Glances
installed (``--glances PATH``, default ``glances`` on the PATH), its REST API (``glances -w --disable-webui``,
``GET /api/4/all``) is driven the same way in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time

SERVER = """
import sys, uvicorn, zgen_otel
from zgen_otel.http import make_app
zgen_otel.configure(interval=3600, system_monitor=False, default_rules=False)
for i in range(200):
    zgen_otel.record_metric(f"series_{i}", float(i), "bench", attributes={"shard": str(i % 4)})
uvicorn.run(make_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _httpx_load(url: str, seconds: float, concurrency: int) -> tuple[int, list[float]]:
    import httpx

    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                response = await client.get(url)
                response.raise_for_status()
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies), latencies


def _wrk(url: str, seconds: float) -> tuple[float, float, float]:
    out = subprocess.run(["wrk", "-t1", "-c10", f"-d{int(seconds)}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    return rps, ms("50%"), ms("99%")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 s of load instead of 10")
    parser.add_argument("--glances", default=shutil.which("glances"), help="the glances executable to compare")
    args = parser.parse_args(argv)
    seconds = 3.0 if args.quick else 10.0
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ZGEN_OTEL_"))}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], env=env)
    url = f"http://127.0.0.1:{port}/api/monitoring/metrics"
    try:
        import httpx

        for _ in range(100):
            try:
                if len(httpx.get(url, timeout=1).json()) == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        print(f"zgen_otel HTTP benchmark, python {sys.version.split()[0]}: GET /api/monitoring/metrics, 200 series")
        if shutil.which("wrk"):
            rps, p50, p99 = _wrk(url, seconds)
            tool = "wrk -t1 -c10"
        else:
            count, latencies = asyncio.run(_httpx_load(url, seconds, 32))
            latencies.sort()
            rps = count / seconds
            p50 = statistics.median(latencies) * 1e3
            p99 = latencies[int(len(latencies) * 0.99) - 1] * 1e3
            tool = "httpx asyncio, 32 concurrent"
        print(f"  load from a second process ({tool}, {seconds:.0f} s): {rps:,.0f} requests/s, "
              f"p50 {p50:.1f} ms, p99 {p99:.1f} ms")  # fmt: skip
        print(f"  requests/s >= 1,000: {'PASS' if rps >= 1000 else 'MISS'};  p99 <= 50 ms: "
              f"{'PASS' if p99 <= 50 else 'MISS'}")  # fmt: skip
    finally:
        server.terminate()
        server.wait(10)
    if args.glances:
        _glances(args.glances, seconds)
    return 0


def _glances(executable: str, seconds: float) -> None:
    import httpx

    port = _free_port()
    cmd = [executable, "-w", "--disable-webui", "--bind", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/4/all"
    try:
        for _ in range(200):
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        if shutil.which("wrk"):
            rps, p50, p99 = _wrk(url, seconds)
            print(f"  Glances REST API, GET /api/4/all (wrk -t1 -c10, {seconds:.0f} s): {rps:,.0f} requests/s, "
                  f"p50 {p50:.1f} ms, p99 {p99:.1f} ms")  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
