"""What a run ran on, in figures that compare between runs and machines.

Four rows have absolute targets (row 4's p99, row 6's rate, rows 7 and 8), and machines of
the same kind here differ by 2× and more in speed, one machine drifting within the hour.
Each baseline shows the machine's speed for its own row only; a fixed piece of pure Python,
timed at the start and at the end of a run, is one yardstick for every run, so that a
reader of two tables can tell a slower machine from a slower Evident. The server's version
and its durability settings go with it: a commit's cost depends on them.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import psycopg

REFERENCE_ITERATIONS = 1_000_000
REFERENCE_REPEATS = 10


def cpu_model() -> str:
    """The processor's model name as the kernel reports it, or what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                name, _, value = line.partition(":")
                if name.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def reference_loop_ms(iterations: int = REFERENCE_ITERATIONS,
                      repeats: int = REFERENCE_REPEATS) -> float:
    """The fastest of ``repeats`` runs of a plain loop of ``iterations`` multiply-adds, in
    milliseconds: the interpreter's speed on this machine now (the fastest run, as the
    others met whatever else the machine was doing)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        total = 0
        for i in range(iterations):
            total += i * i
        best = min(best, time.perf_counter() - started)
    return best * 1e3


def server_settings(conn: psycopg.Connection[Any]) -> str:
    """The PostgreSQL server's version and the settings a commit's cost depends on."""

    def show(name: str) -> str:
        row = conn.execute(f"SHOW {name}").fetchone()  # only the names below
        return str(row[0]) if row else "?"

    version = show("server_version").split(" ", 1)[0]  # without the packager's suffix
    return (f"{version} (fsync {show('fsync')}, synchronous_commit"
            f" {show('synchronous_commit')})")


def describe(start_ms: float, end_ms: float, server: str) -> str:
    """The note ``python -m bench`` prints about the machine."""
    return (
        f"machine: {os.cpu_count()} cores ({cpu_model()}), Python"
        f" {platform.python_version()}, PostgreSQL {server}; a reference loop of pure Python"
        f" ({REFERENCE_ITERATIONS:,} multiply-adds, fastest of {REFERENCE_REPEATS}) took"
        f" {start_ms:.0f} ms at the start of the run and {end_ms:.0f} ms at the end (less is"
        " faster)"
    )
