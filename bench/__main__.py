"""``python -m bench``: build a fresh benchmark database, run the benchmarks, print one table.

Every row is a figure, the baseline measured in the same run, their ratio and the target
(DESIGN: benchmarks report ratios against same-run baselines, never bare absolute numbers).
The database named by ``--database`` (``evident_bench``) on the ``DATABASE_URL`` server is
dropped and created anew each run, so nothing else is touched. Progress goes to stderr on a
terminal only; the table goes to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from application.event_store import create_schema
from bench import rebuild
from bench.history import build_history
from bench.report import Result, format_table
from interfaces.progress import progress

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Options:
    events: int
    batch_size: int
    baseline_events: int


Benchmark = Callable[[str, Options], tuple[list[Result], list[str]]]


def _rebuild(database_url: str, options: Options) -> tuple[list[Result], list[str]]:
    outcome = rebuild.run(database_url, batch_size=options.batch_size,
                          baseline_events=options.baseline_events, progress=progress)
    return outcome.results(), outcome.notes


BENCHMARKS: dict[str, Benchmark] = {rebuild.NAME: _rebuild}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run Evident's benchmarks on a fresh database and print one table:"
                    " figure, same-run baseline, ratio, target.",
        epilog="example: DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres"
               " python -m bench --events 200000 --only rebuild",
    )
    parser.add_argument("--events", type=int, default=200_000,
                        help="events in the benchmark log (default 200000)")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append",
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--batch-size", type=int, default=rebuild.DEFAULT_BATCH_SIZE,
                        help="events per projection batch when rebuilding (default %(default)s)")
    parser.add_argument("--baseline-events", type=int, default=rebuild.DEFAULT_BASELINE_EVENTS,
                        help="the library runner's baseline reads this prefix of the log"
                             " (default %(default)s; it commits per event, so the whole log"
                             " would take minutes)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated history")
    parser.add_argument("--database", default="evident_bench",
                        help="benchmark database, dropped and recreated (default %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="exit with status 1 when a figure misses its target")
    return parser


def _fresh_database(server_url: str, name: str) -> str:
    """Drop and create ``name`` on the server of ``server_url``; return its URL."""
    parts = conninfo_to_dict(server_url)
    if parts.get("dbname") == name:
        raise ValueError(f"DATABASE_URL names {name!r} itself; point it at another database")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    parts["dbname"] = name
    url = make_conninfo(**{k: str(v) for k, v in parts.items() if v is not None})
    with psycopg.connect(url, autocommit=True) as conn:
        create_schema(conn)
    return url


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.events < 1 or args.batch_size < 1 or args.baseline_events < 1:
        print("bench: error: --events, --batch-size and --baseline-events must be positive",
              file=sys.stderr)
        return 2
    started = time.perf_counter()
    options = Options(args.events, args.batch_size, args.baseline_events)
    try:
        url = _fresh_database(os.environ.get("DATABASE_URL") or DEFAULT_URL, args.database)
        with progress(args.events, "building the log") as advance:
            history = build_history(url, args.events, seed=args.seed, on_progress=advance)
        results: list[Result] = []
        notes: list[str] = []
        for name in args.only or list(BENCHMARKS):
            rows, more = BENCHMARKS[name](url, options)
            results += rows
            notes += more
    except (psycopg.Error, OSError, RuntimeError, ValueError) as error:
        print(f"bench: error: {type(error).__name__}: {error}".splitlines()[0], file=sys.stderr)
        return 1
    print(history.describe())
    print()
    print(format_table(results))
    print()
    for note in notes:
        print(f"- {note}")
    print(f"- total run time {time.perf_counter() - started:.0f} s, database {args.database!r}")
    missed = [r for r in results if r.met is False]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
