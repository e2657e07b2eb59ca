"""``oms``: the operator's command line. Every command honours ``DATABASE_URL``.

Commands are thin: they read settings, call ``application.bootstrap`` and the projection
engine, and report. Failures end with one clear line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from datetime import datetime
from types import FrameType

import orjson
import psycopg

from application.audit import AuditFilter, stream_events, verify
from application.bootstrap import create_order_management, open_database, tune_garbage_collector
from application.demo import fill_demo
from application.embedded_postgres import EmbeddedPostgresUnavailableError
from application.errors import AlreadyExistsError
from application.log_reader import LogCursor, count_after
from application.personal_data import KeyStore, PersonalDataMapper
from application.settings import Settings
from interfaces import logs
from interfaces.progress import progress
from interfaces.serving import serve_app
from interfaces.supervisor import Supervisor
from projections import registry
from projections.engine import (
    AlreadyRebuildingError,
    HorizonHeldBackError,
    ReplayTargetError,
    Until,
    Worker,
    replay,
)
from projections.parallel_rebuild import RebuildFailedError, rebuild_in_parallel
from projections.status import projection_status

log = logging.getLogger("evident.cli")

ROLES = ("client", "agent", "auditor", "analyst", "admin")


class CommandError(Exception):
    """A failure to report as one line, without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="oms",
        description="Evident OMS: event-sourced order management on PostgreSQL.",
        epilog="example:\n  oms run            # everything, on the embedded database\n"
        "  DATABASE_URL=postgresql://postgres@127.0.0.1/evident oms serve",
        formatter_class=fmt,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", help="start the database (embedded unless DATABASE_URL), API and projections",
        epilog="example:\n  oms run --port 8000", formatter_class=fmt,
    )
    run.add_argument("--host", default=None, help="bind address (default OMS_HOST, 127.0.0.1)")
    run.add_argument("--port", type=int, default=None, help="port (default OMS_PORT, 8000)")

    serve = sub.add_parser(
        "serve", help="serve the HTTP API",
        epilog="example:\n  oms serve --host 0.0.0.0 --port 8000", formatter_class=fmt,
    )
    serve.add_argument("--host", default=None, help="bind address (default OMS_HOST)")
    serve.add_argument("--port", type=int, default=None, help="port (default OMS_PORT)")

    project = sub.add_parser(
        "project", help="run projection workers (all read models when no NAMES)",
        epilog="example:\n  oms project order_status", formatter_class=fmt,
    )
    project.add_argument("names", nargs="*", metavar="NAMES")

    projections = sub.add_parser(
        "projections", help="inspect projections",
        epilog="example:\n  oms projections status", formatter_class=fmt,
    )
    psub = projections.add_subparsers(dest="action", required=True, metavar="ACTION")
    psub.add_parser("status", help="position, head, lag and state of every projection")
    rebuild_parser = psub.add_parser(
        "rebuild", help="rebuild read models from the whole log; the old ones serve meanwhile",
        epilog="example:\n  oms projections rebuild order_status\n"
        "  oms projections rebuild --all      # one pass over the log for every read model",
        formatter_class=fmt,
    )
    rebuild_parser.add_argument("names", nargs="*", metavar="NAME")
    rebuild_parser.add_argument("--all", action="store_true", help="every read model")
    replay_parser = psub.add_parser(
        "replay", help="build a point-in-time copy of a read model into its own schema",
        epilog="example:\n  oms projections replay stock_visibility"
        " --until 2026-03-31T23:59:59Z --into stock_q1", formatter_class=fmt,
    )
    replay_parser.add_argument("name", metavar="NAME")
    replay_parser.add_argument("--until", required=True, metavar="TIME|POSITION",
                               help="an RFC 3339 time with offset, or a log position")
    replay_parser.add_argument("--into", required=True, metavar="SCHEMA",
                               help="a new PostgreSQL schema to create and fill")

    audit = sub.add_parser(
        "audit", help="verify the log and export it",
        epilog="example:\n  oms audit verify\n  oms audit export --from 2026-01-01T00:00:00Z"
        " > events.ndjson", formatter_class=fmt,
    )
    asub = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    asub.add_parser("verify", help="recompute every event's hash chain; exit 1 if broken")
    export = asub.add_parser("export", help="write events with envelopes as NDJSON to stdout")
    export.add_argument("--from", dest="start", type=_moment, default=None, metavar="TIME")
    export.add_argument("--to", dest="end", type=_moment, default=None, metavar="TIME")

    demo = sub.add_parser(
        "demo", help="fill an empty database with a realistic, reproducible data set",
        epilog="example:\n  oms demo --seed 7 --orders 1000", formatter_class=fmt,
    )
    demo.add_argument("--seed", type=int, default=7, help="same seed, same data (default 7)")
    demo.add_argument("--orders", type=int, default=1000, help="how many orders (default 1000)")

    db = sub.add_parser(
        "db", help="database administration",
        epilog="example:\n  oms db init", formatter_class=fmt,
    )
    dsub = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    dsub.add_parser("init", help="create the event store schema (safe to repeat)")
    return parser


def _moment(text: str) -> datetime:
    """An RFC 3339 time with an offset; a naive time would mean different moments to
    different readers."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text!r}") from e
    if moment.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"time needs an offset such as Z or +02:00: {text!r}")
    return moment


def _until(text: str) -> Until:
    if text.isdigit():
        return Until(position=int(text))
    try:
        return Until(moment=_moment(text))
    except argparse.ArgumentTypeError as e:
        raise CommandError(f"--until: {e}") from e


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as e:
        raise CommandError(f"invalid configuration: {e}") from e


def _stop_on_sigterm(worker: Worker) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def cmd_project(settings: Settings, names: Sequence[str]) -> None:
    try:
        projections = registry.select(names)
    except registry.UnknownProjectionError as e:
        raise CommandError(str(e)) from e
    with open_database(settings) as url:
        worker = Worker(
            url,
            projections,
            batch_size=settings.projection_batch_size,
            poll_interval=settings.projection_poll_interval,
        )
        _stop_on_sigterm(worker)
        log.info("projecting %s", ", ".join(p.name for p in projections))
        tune_garbage_collector()
        worker.run()


def _serve(
    settings: Settings, url: str, host: str, port: int,
    on_ready: Callable[[], None] | None = None,
) -> None:
    from interfaces.http.app import create_app  # noqa: PLC0415

    serve_app(create_app(settings, url, tune_gc=True), host, port, settings.log_level.lower(),
              on_ready=on_ready)


def cmd_serve(settings: Settings, host: str | None, port: int | None) -> None:
    with open_database(settings) as url:
        _serve(settings, url, host or settings.host, port or settings.port)


def _demo_keys(settings: Settings) -> Settings:
    """Keys for every role, created once per data directory, unless OMS_API_KEYS is set."""
    if settings.api_keys:
        return settings
    path = settings.data_dir / "api-keys"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        entries = [f"{role}-demo:{role}:{secrets.token_urlsafe(18)}" for role in ROLES]
        path.write_text(",".join(entries) + "\n")
        path.chmod(0o600)
    keys = path.read_text().strip()
    print("API keys (Authorization: Bearer <key>), from", path, file=sys.stderr)
    for entry in keys.split(","):
        actor, role, key = entry.split(":")
        print(f"  {role:8} {key}   (actor {actor})", file=sys.stderr)
    return settings.model_copy(update={"api_keys": keys})


def _exit_on_termination() -> None:
    """SIGTERM (a service manager stopping ``oms run``) ends it as Ctrl-C does, by unwinding,
    so that the worker and the embedded database are stopped on the way out; SIGHUP (its
    terminal closed) is taken for SIGTERM. uvicorn handles SIGTERM itself while it serves,
    shuts down gracefully, then raises it again for the handler it found; left to the
    default action, that would kill the process on the spot and leave the worker running."""
    def terminate(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    def hang_up(signum: int, frame: FrameType | None) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful stop while it serves

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, hang_up)


def cmd_run(settings: Settings, host: str | None, port: int | None) -> None:
    _exit_on_termination()
    settings = _demo_keys(settings)
    host, port = host or settings.host, port or settings.port
    with open_database(settings) as url:
        env = {**os.environ, "DATABASE_URL": url}
        worker = Supervisor("projection worker",
                            [sys.executable, "-m", "interfaces.cli", "project"], env)
        worker.start()

        def announce() -> None:
            print(f"Evident is running: API http://{host}:{port}  docs"
                  f" http://{host}:{port}/docs  care console http://{host}:{port}/console"
                  "  (Ctrl-C stops everything; `oms demo` in another terminal fills it with"
                  " demo data)", file=sys.stderr, flush=True)

        try:
            _serve(settings, url, host, port, on_ready=announce)
        finally:
            worker.stop()


def cmd_projections_status(settings: Settings) -> None:
    with open_database(settings) as url, psycopg.connect(url, autocommit=True) as conn:
        items = projection_status(conn)
    if not items:
        print("no projections yet: start `oms project`")
        return
    print(f"{'name':16} {'position':>10} {'head':>10} {'lag':>8} {'lag s':>8}  state  error")
    for i in items:
        print(f"{i['name']:16} {i['position']:>10} {i['head']:>10} {i['lag_events']:>8}"
              f" {i['lag_seconds']:>8}  {i['state']}  {i['error'] or ''}")


def cmd_projections_rebuild(settings: Settings, names: Sequence[str], everything: bool) -> None:
    if not names and not everything:
        raise CommandError("name the read models to rebuild, or --all")
    try:
        projections = registry.select([] if everything else names)
    except registry.UnknownProjectionError as e:
        raise CommandError(str(e)) from e
    label = ", ".join(p.name for p in projections)
    with open_database(settings) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            total = count_after(conn, LogCursor.start())
        tune_garbage_collector()
        with progress(total, f"rebuilding {label}") as advance:
            try:
                # One process per core, each rebuilding a group of the read models.
                generations = rebuild_in_parallel(url, projections, on_progress=advance)
            except (AlreadyRebuildingError, RebuildFailedError) as e:
                raise CommandError(str(e)) from e
    for name, generation in generations.items():
        print(f"{name}: generation {generation} is live")


def cmd_projections_replay(settings: Settings, name: str, until: str, into: str) -> None:
    try:
        [projection] = registry.select([name])
    except registry.UnknownProjectionError as e:
        raise CommandError(str(e)) from e
    point = _until(until)
    with open_database(settings) as url, psycopg.connect(url, autocommit=True) as conn:
        total = count_after(conn, LogCursor.start())
        with progress(total, f"replaying {name}") as advance:
            try:
                applied = replay(conn, projection, into, point, on_progress=advance)
            except (ReplayTargetError, HorizonHeldBackError) as e:
                raise CommandError(str(e)) from e
    print(f"{name} as of {until}: {applied} events applied into schema {into}")


def cmd_audit_verify(settings: Settings) -> int:
    with open_database(settings) as url, psycopg.connect(url) as conn:
        result = verify(conn)
    if result.ok:
        print(f"ok: {result.checked} events, every hash chain intact")
        return 0
    print(f"BROKEN: first broken link {result.first_broken} ({result.checked} events checked)")
    return 1


def cmd_audit_export(settings: Settings, start: datetime | None, end: datetime | None) -> None:
    out = sys.stdout.buffer
    with open_database(settings) as url, psycopg.connect(url, autocommit=True) as conn:
        # Personal fields are opened with their customer's key, or read as the erasure marker.
        mapper = PersonalDataMapper(KeyStore(lambda: nullcontext(conn)))
        flt = AuditFilter(recorded_from=start, recorded_to=end)
        for row in stream_events(conn, flt):
            data = mapper.transcoder.decode(bytes(row.pop("state")))
            mapper.open_values(data)
            row["data"] = data
            out.write(orjson.dumps(row, default=str) + b"\n")
    out.flush()


def cmd_demo(settings: Settings, seed: int, orders: int) -> None:
    if orders < 1:
        raise CommandError("--orders must be at least 1")
    with open_database(settings) as url:
        oms = create_order_management(url, settings)
        try:
            with progress(orders, "demo", unit="order") as advance:
                try:
                    summary = fill_demo(oms, seed=seed, orders=orders, on_progress=advance)
                except AlreadyExistsError as e:
                    raise CommandError(str(e)) from e
        finally:
            oms.close()
    print(f"demo data: {summary.locations} locations, {summary.skus} SKUs,"
          f" {summary.customers} customers, {summary.orders} orders, {summary.events} events"
          " (start `oms project` to build the read models)")


def cmd_db_init(settings: Settings) -> None:
    with open_database(settings) as url:
        print(f"event store schema ready on {_redact(url)}")


def _redact(url: str) -> str:
    return psycopg.conninfo.make_conninfo(url, password="***") if ":" in url and "@" in url and (
        psycopg.conninfo.conninfo_to_dict(url).get("password")
    ) else url


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings()
        logs.configure(settings.log_format, settings.log_level)
        if args.command == "run":
            cmd_run(settings, args.host, args.port)
        elif args.command == "serve":
            cmd_serve(settings, args.host, args.port)
        elif args.command == "project":
            cmd_project(settings, args.names)
        elif args.command == "projections" and args.action == "status":
            cmd_projections_status(settings)
        elif args.command == "projections" and args.action == "rebuild":
            cmd_projections_rebuild(settings, args.names, args.all)
        elif args.command == "projections" and args.action == "replay":
            cmd_projections_replay(settings, args.name, args.until, args.into)
        elif args.command == "audit" and args.action == "verify":
            return cmd_audit_verify(settings)
        elif args.command == "audit" and args.action == "export":
            cmd_audit_export(settings, args.start, args.end)
        elif args.command == "demo":
            cmd_demo(settings, args.seed, args.orders)
        elif args.command == "db" and args.action == "init":
            cmd_db_init(settings)
    except (CommandError, EmbeddedPostgresUnavailableError) as e:
        print(f"oms: {e}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as e:
        print(f"oms: cannot reach PostgreSQL: {str(e).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
