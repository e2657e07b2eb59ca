"""Figure 4: placing orders over HTTP, 32 connections: requests/s and p99.

Evident's API is served as an operator serves it — ``oms serve`` (uvicorn, one worker
process, no access log) in a subprocess on 127.0.0.1 — and receives ``POST /v1/orders``
with two lines reserving at two locations, each request a different order. The baseline is
a trivial FastAPI app with one validated ``POST`` (a small pydantic model, no database)
served by ``python -m bench.http`` through the same call and settings (``serve_app``),
receiving the same request bodies. The load comes from ``wrk`` (32 connections, back to
back), whose cost per request is a small fraction of either server's, so that both are
measured at their own limits on the shared 2 cores; where wrk is not installed, 32 Python
threads with ``httpx`` stand in, and then the generator rather than the servers may set the
pace (the note says which generator ran).

Both servers run at once and take turns: after a warm-up each, ``rounds`` windows per side
in alternating order, so that a slow stretch of a shared machine (another tenant, a
checkpoint) falls on both rather than on whichever side was measured during it. Each side's
rate is the median of its windows'; its p50 and p99 are those of all its measured requests
together (``pooled_percentile``). wrk 4.1 (Debian's) gives its Lua script percentiles but
not its histogram, so each window reports its latencies' percentiles on a fine grid
(``QUANTILE_GRID``: every hundredth of a percent above 99), and the pooled percentile is the
lowest latency that more than that share of all the requests is known not to exceed: it can
only come out above the exact one, never below. The highest window p99, the figure this
benchmark gave until 2026-12-03, is in the note beside it.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import math
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import httpx
import orjson
from fastapi import FastAPI
from pydantic import BaseModel, Field

from bench.common import (
    closing_all,
    drive,
    evident_app,
    register_customers,
    sku_a,
    sku_b,
    status,
    stock_evident,
)
from bench.report import Result
from interfaces.serving import serve_app

NAME = "http"
CONNECTIONS = 32
TARGET_RATIO = 0.40
TARGET_P99_MS = 50.0
API_KEY = "bench-http-key"


@dataclass(frozen=True)
class Sizes:
    seconds: float  # measured per side, shared by its windows
    warmup: float
    pairs_per_connection: int
    rounds: int = 1  # alternating windows per side

    @property
    def window(self) -> float:
        return self.seconds / self.rounds


# A warm-up of 4 s: in its first seconds Evident's server reads each stock item into its
# cache and opens its command connections (measured: 586-698 req/s over the first 2 s, and
# a first window after a 2 s warm-up still at 664 req/s against 1,100-1,250 after it).
FULL = Sizes(seconds=12.0, warmup=4.0, pairs_per_connection=16, rounds=3)
QUICK = Sizes(seconds=1.0, warmup=0.3, pairs_per_connection=2)


# --- the baseline server ---------------------------------------------------------------------


class _Line(BaseModel):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0)


class _Order(BaseModel):
    customer_id: UUID
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    lines: list[_Line] = Field(min_length=1)


class _Accepted(BaseModel):
    id: UUID
    lines: int


def trivial_app() -> FastAPI:
    """One validated POST and nothing else: what FastAPI + uvicorn cost on their own."""
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/orders", status_code=201, response_model=_Accepted)
    def accept(order: _Order) -> _Accepted:
        return _Accepted(id=uuid4(), lines=len(order.lines))

    return app


def _serve_trivial(host: str, port: int) -> None:
    # The same call and settings as ``oms serve`` (the bench runs it with OMS_LOG_LEVEL=WARNING).
    serve_app(trivial_app(), host, port, "warning")


# --- the load ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"http: the server exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError("http: the server did not start")


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _body(customer: UUID, n: int) -> dict[str, Any]:
    return {
        "customer_id": str(customer), "channel": "web", "currency": "EUR",
        "lines": [{"sku": sku_a(n), "quantity": 1, "unit_price": "19.99", "tax_rate": "0.19"},
                  {"sku": sku_b(n), "quantity": 2, "unit_price": "19.99", "tax_rate": "0.19"}],
        "shipping_address": {"name": "Bench Customer", "line1": "1 Hauptstraße",
                             "city": "Berlin", "postal_code": "10115", "country": "DE"},
        "shipping_method": "standard",
    }


# The percentiles each window reports of its latencies, from which the side's p50 and p99
# over all its windows are worked out: every whole percent below 90, every tenth up to 99,
# every hundredth from there, and the slowest request (100).
QUANTILE_GRID: tuple[float, ...] = (
    *(float(p) for p in range(1, 90)),
    *(p / 10 for p in range(900, 990)),
    *(p / 100 for p in range(9900, 10001)),
)


@dataclass(frozen=True)
class Load:
    rate: float
    p50: float
    p99: float
    cpu_per_request: float  # the generator's own CPU seconds per request
    errors: int
    first_error: str | None
    generator: str = "python"
    requests: int = 0  # completed in the window (all of its windows, once merged)
    quantiles: tuple[float, ...] = ()  # seconds, one per QUANTILE_GRID entry
    window_p99s: tuple[float, ...] = ()  # each window's own p99, once merged


def nearest_rank(ordered: Sequence[float], p: float) -> float:
    """The ``p``th percentile of ``ordered`` (ascending) as wrk works it out: the value at
    rank ``round(p / 100 × n + 0.5)``, and the largest for 100."""
    rank = min(max(math.floor(p / 100 * len(ordered) + 1.0), 1), len(ordered))
    return ordered[rank - 1]


def pooled_percentile(loads: Sequence[Load], p: float) -> float:
    """The ``p``th percentile of the latencies of all the requests of ``loads`` together,
    as ``nearest_rank`` would give it of them all: the lowest latency that more than ``p``
    percent of the requests did not exceed.

    Each window is known only by its percentiles on ``QUANTILE_GRID``: more than the share
    ``g`` of a window's requests took no longer than its percentile ``g`` (all of them, its
    100th). The answer is the lowest latency any window reported that more than ``p``
    percent of all the requests are known not to exceed, so it is never below the exact
    percentile; it is above it by at most the grid's step at the windows' own percentiles
    there (a hundredth of a percent from the 99th up, where windows alike put their p99s).
    """
    total = sum(load.requests for load in loads)
    if not total:
        return float("nan")
    # In hundredths of a percent, so that the comparison is exact.
    grid = [round(g * 100) for g in QUANTILE_GRID]
    needed = round(p * 100) * total
    for latency in sorted({q for load in loads for q in load.quantiles}):
        known = 0
        for load in loads:
            reached = bisect.bisect_right(load.quantiles, latency)
            if reached:
                known += load.requests * grid[reached - 1]
        if known > needed:
            return latency
    return max(load.quantiles[-1] for load in loads)


# The load generator's script: every request a different order, from the bodies prepared for
# the run; each wrk thread takes its own half of them, in turn, so no two requests in flight
# reserve the same SKUs.
_WRK_SCRIPT = """
local bodies = {%s}
local half = math.floor(#bodies / %d)
local counter, offset, next_offset = 0, 0, 0
function setup(thread) thread:set("offset", next_offset); next_offset = next_offset + half end
function init(args) offset = tonumber(wrk.thread:get("offset")) end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
function request()
  counter = counter + 1
  return wrk.format(nil, "/v1/orders", nil, bodies[offset + counter %% half + 1])
end
function done(summary, latency, requests)
  for _, p in ipairs({%s}) do
    local value = p == 100 and latency.max or latency:percentile(p)
    io.write(string.format("quantile %%s %%d\\n", p, value))
  end
end
"""
WRK_THREADS = 2


def _load_wrk(base: str, customers: list[UUID], first_pair: int, sizes: Sizes,
              seconds: float) -> Load:
    """One window of load from wrk (C, a process of its own): its cost per request is small
    enough that neither server is measured against the generator's limits."""
    pairs = CONNECTIONS * sizes.pairs_per_connection
    bodies = [orjson.dumps(_body(customers[n % len(customers)], first_pair + n)).decode()
              for n in range(pairs)]
    script = _WRK_SCRIPT % (",".join(f"[[{b}]]" for b in bodies), WRK_THREADS, API_KEY,
                            ",".join(f"{p:g}" for p in QUANTILE_GRID))
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()

        def wrk(seconds: float, latency: bool = False) -> tuple[str, float]:
            # wrk takes whole seconds.
            command = ["wrk", f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{math.ceil(seconds)}s",
                       "-s", lua.name, f"{base}/v1/orders"]
            cpu = _children_cpu()
            out = subprocess.run([*command, *(["--latency"] if latency else [])],
                                 capture_output=True, text=True, check=True).stdout
            return out, _children_cpu() - cpu

        out, cpu = wrk(seconds, latency=True)
    requests = int(_wrk_field(out, r"(\d+) requests in"))
    rate = float(_wrk_field(out, r"Requests/sec:\s+([\d.]+)"))
    failed = int(_wrk_field(out, r"Non-2xx or 3xx responses: (\d+)", "0"))
    socket = _wrk_field(out, r"Socket errors: (.*)", "")
    quantiles = tuple(int(value) * 1e-6 for value in  # wrk's latencies are in µs
                      re.findall(r"^quantile \S+ (\d+)$", out, flags=re.MULTILINE))
    if len(quantiles) != len(QUANTILE_GRID):
        raise RuntimeError(f"http: wrk printed {len(quantiles)} of {len(QUANTILE_GRID)}"
                           f" percentiles:\n{out}")
    return Load(rate, _wrk_latency(out, "50"), _wrk_latency(out, "99"),
                cpu / max(requests, 1), failed + (1 if socket else 0),
                f"{failed} non-2xx responses; socket errors: {socket or 'none'}"
                if failed or socket else None, generator="wrk", requests=requests,
                quantiles=quantiles)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wrk_field(out: str, pattern: str, default: str | None = None) -> str:
    found = re.search(pattern, out)
    if found is None:
        if default is None:
            raise RuntimeError(f"http: wrk printed no {pattern!r}:\n{out}")
        return default
    return found.group(1)


def _wrk_latency(out: str, percent: str) -> float:
    """A latency from wrk's distribution, in seconds."""
    value = _wrk_field(out, rf"{percent}%\s+([\d.]+(?:us|ms|s))\b")
    for unit, seconds in (("us", 1e-6), ("ms", 1e-3), ("s", 1.0)):
        if value.endswith(unit):
            return float(value.removesuffix(unit)) * seconds
    raise RuntimeError(f"http: wrk printed a latency without a unit: {value!r}")


def _load(
    base: str, customers: list[UUID], first_pair: int, sizes: Sizes, seconds: float
) -> Load:
    """One window of load from wrk if the machine has it (``apt-get install wrk``), else
    from Python."""
    if shutil.which("wrk"):
        return _load_wrk(base, customers, first_pair, sizes, seconds)
    return _load_python(base, customers, first_pair, sizes, seconds)


def _alternately(
    bases: dict[str, str], customers: list[UUID], first_pair: int, sizes: Sizes
) -> dict[str, Load]:
    """Each side warmed up (a window not counted), then ``sizes.rounds`` windows each,
    taking turns (the order reversed every round); a side's windows merged (see the module
    docstring)."""
    for side, base in bases.items():
        status(f"http: warming up {side}")
        _load(base, customers, first_pair, sizes, sizes.warmup)
    windows: dict[str, list[Load]] = {side: [] for side in bases}
    order = list(bases)
    for round_ in range(sizes.rounds):
        for side in order if round_ % 2 == 0 else reversed(order):
            status(f"http: {side}, window {round_ + 1} of {sizes.rounds}")
            windows[side].append(_load(bases[side], customers, first_pair, sizes,
                                       sizes.window))
    return {side: _merged(loads) for side, loads in windows.items()}


def _merged(loads: list[Load]) -> Load:
    return Load(
        rate=statistics.median(load.rate for load in loads),
        p50=pooled_percentile(loads, 50),
        p99=pooled_percentile(loads, 99),
        cpu_per_request=statistics.mean(load.cpu_per_request for load in loads),
        errors=sum(load.errors for load in loads),
        first_error=next((load.first_error for load in loads if load.first_error), None),
        generator=loads[0].generator,
        requests=sum(load.requests for load in loads),
        window_p99s=tuple(load.p99 for load in loads),
    )


def _load_python(base: str, customers: list[UUID], first_pair: int, sizes: Sizes,
                 seconds: float) -> Load:
    clients = [httpx.Client(base_url=base, headers={"Authorization": f"Bearer {API_KEY}"},
                            timeout=30) for _ in range(CONNECTIONS)]

    def post(t: int, i: int) -> None:
        n = first_pair + t * sizes.pairs_per_connection + i % sizes.pairs_per_connection
        response = clients[t].post("/v1/orders", json=_body(customers[t], n))
        if response.status_code != 201:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")

    try:
        cpu = time.process_time()
        run = drive(CONNECTIONS, seconds, post, warmup=0.0)
        cpu = time.process_time() - cpu
    finally:
        for client in clients:
            client.close()
    ordered = sorted(run.latencies)
    return Load(run.rate, run.percentile(50), run.percentile(99), cpu / max(run.count, 1),
                run.errors, run.first_error, requests=run.count,
                quantiles=tuple(nearest_rank(ordered, p) for p in QUANTILE_GRID)
                if ordered else ())


@contextlib.contextmanager
def _serving(side: str, database_url: str) -> Iterator[str]:
    """Evident (``oms serve``) or the trivial app, served in a subprocess: its base URL."""
    port = _free_port()
    if side == "evident":
        env = {**os.environ, "DATABASE_URL": database_url, "OMS_API_KEYS":
               f"bench:client:{API_KEY}", "OMS_LOG_LEVEL": "WARNING"}
        command = [sys.executable, "-m", "interfaces.cli", "serve", "--host", "127.0.0.1",
                   "--port", str(port)]
    else:
        env = dict(os.environ)
        command = [sys.executable, "-m", "bench.http", "--port", str(port)]
    status(f"http: starting the {side} server")
    server = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base, server)
        yield base
    finally:
        _stop(server)


def run(database_url: str, sizes: Sizes = FULL) -> tuple[list[Result], list[str]]:
    base_pair = 700_000  # SKU pairs of their own
    app = evident_app(database_url, pool_size=2)
    with closing_all(app):
        status("http: stocking")
        stock_evident(app, range(base_pair, base_pair + CONNECTIONS * sizes.pairs_per_connection))
        customers = register_customers(app, CONNECTIONS)
    with contextlib.ExitStack() as servers:
        bases = {side: servers.enter_context(_serving(side, database_url))
                 for side in ("evident", "trivial")}
        loads = _alternately(bases, customers, base_pair, sizes)
    ours, theirs = loads["evident"], loads["trivial"]
    results = [
        Result(f"place order over HTTP, {CONNECTIONS} connections", ours.rate, "req/s",
               theirs.rate, target_ratio=TARGET_RATIO, row=4),
        Result("  the same, p99 latency", ours.p99 * 1e3, "ms", theirs.p99 * 1e3,
               max_value=TARGET_P99_MS, row=4),
    ]
    generator = (f"wrk, {WRK_THREADS} threads" if ours.generator == "wrk" else
                 "Python threads (wrk is not installed: the generator, not the servers, may"
                 " set the pace)")
    notes = [
        f"4: oms serve (uvicorn, 1 process) vs a trivial validated FastAPI POST served alike;"
        f" load from {generator}, {CONNECTIONS} connections; both served at once, after a"
        f" {sizes.warmup:g} s warm-up each {sizes.rounds} alternating"
        f" window{'s' if sizes.rounds > 1 else ''} of {sizes.window:g} s per side, median"
        f" rate, p50 and p99 of all of a side's requests ({ours.requests:,} / "
        f"{theirs.requests:,}); p50 Evident {ours.p50 * 1e3:.1f} ms, trivial"
        f" {theirs.p50 * 1e3:.1f} ms; each window's own p99 Evident {_ms(ours.window_p99s)},"
        f" trivial {_ms(theirs.window_p99s)}; load generator CPU"
        f" {ours.cpu_per_request * 1e3:.2f} /"
        f" {theirs.cpu_per_request * 1e3:.2f} ms per request (Evident / trivial) on the same"
        " 2 cores",
    ]
    notes += [f"4: {side}: {load.errors} requests failed, first: {load.first_error}"
              for side, load in loads.items() if load.errors]
    return results, notes


def _ms(latencies: Sequence[float]) -> str:
    return " / ".join(f"{latency * 1e3:.1f}" for latency in latencies) + " ms"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.http",
                                     description="serve the trivial baseline app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    _serve_trivial(args.host, args.port)


if __name__ == "__main__":
    main()
