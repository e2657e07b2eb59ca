"""A private PostgreSQL server for Evident when no ``DATABASE_URL`` is configured.

Evident keeps everything in PostgreSQL and has no second database dialect (DESIGN.md decision
1), so the zero-configuration default cannot be SQLite: it is a real PostgreSQL server that
Evident starts itself, whose files live in ``data_dir / "pgdata"`` (so data survives restarts)
and which listens only on a Unix socket in a directory of its own, so it never collides with
another server on port 5432, needs no password and is reachable only by the user who owns it.

Where the binaries come from. In order of preference: the ``pgserver`` wheel, which ships
PostgreSQL binaries (we only borrow its ``initdb``/``pg_ctl``/``postgres``: its own lifecycle
manager keeps a cross-process handle list in which a killed process lingers forever, so the
server would never be stopped again); then the machine's ``initdb``/``pg_ctl`` found on
``PATH``. Set ``OMS_EMBEDDED_BACKEND`` to ``pgserver`` or ``system`` to force one (default
``auto``). An existing cluster is only started by binaries of the same major version (the wheel
and the machine may differ). When nothing fits, :class:`EmbeddedPostgresUnavailableError` says
how to use a server instead.

Root. PostgreSQL refuses to run as root, so as root every server program runs as an
unprivileged account: the owner of an existing cluster, else ``postgres``, else a newly created
system account ``evident-pg``. That account must be able to traverse the directories above the
data directory and the binaries, so missing ``o+x`` (search only, never read) bits are added,
with a warning. Non-root users run everything as themselves.

Stopping and signals. ``stop()`` (also run by ``__exit__`` and, as a safety net, ``atexit``) does
a fast shutdown: sessions are disconnected, a checkpoint is written. Only the process that
started the server (or adopted one whose starter died) stops it; another process that attaches
while the owner is alive leaves it running. The postmaster lives in its own session, so Ctrl-C in
a terminal does not reach it; the owner must stop it. Ctrl-C raises ``KeyboardInterrupt``, which
unwinds through ``with``/``finally``. SIGTERM and SIGHUP, by default, kill Python without running
``finally`` or ``atexit``; so ``start()``, when called in the main thread and while their handler
is still the default, installs one that raises ``SystemExit(128 + signal)``. That also covers
uvicorn, which captures SIGTERM while serving and re-raises it after its graceful shutdown. A
caller that installs its own handlers must make them raise ``SystemExit`` or call ``stop()``.
SIGKILL cannot be caught: the server then keeps running until the next ``start()`` adopts it.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import importlib.util
import logging
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any
from urllib.parse import quote

import psycopg

_LOG = logging.getLogger("evident.embedded_postgres")

BACKEND_ENV = "OMS_EMBEDDED_BACKEND"
_BACKENDS = ("auto", "pgserver", "system")
_DATABASE = "evident"
_SUPERUSER = "postgres"
# The socket lives in a private directory, so the default port number cannot collide with
# anything; it only names the socket file.
_PORT = 5432
_SOCKET_NAME = f".s.PGSQL.{_PORT}"
# sockaddr_un.sun_path is 108 bytes on Linux (104 on macOS) including the terminating NUL.
_MAX_SOCKET_PATH = 103 if sys.platform == "darwin" else 107
_ROOT_FALLBACK_ACCOUNT = "evident-pg"
_CONF_NAME = "evident.conf"
_INCLUDE_LINE = f"include_if_exists = '{_CONF_NAME}'"
_LOG_NAME = "server.log"
_LOG_ROTATE_BYTES = 10 * 1024 * 1024
_START_TIMEOUT_S = 60
_STOP_TIMEOUT_S = 30
_COMPOSE_URL = "postgresql://evident:evident@127.0.0.1:5432/evident"


class EmbeddedPostgresUnavailableError(RuntimeError):
    """No PostgreSQL binaries usable for the embedded server; the message says what to do."""


def _unavailable_message(reasons: Sequence[str]) -> str:
    # One paragraph, because it is printed as-is by the CLI and must be readable in a terminal.
    tried = "; ".join(reasons) if reasons else "no backend could be tried"
    return (
        "Evident could not start its embedded PostgreSQL server ("
        + tried
        + "). Either set DATABASE_URL to an existing PostgreSQL server, for example "
        "DATABASE_URL=postgresql://user@host:5432/db, or start the bundled one with "
        "`docker compose up -d db` and set DATABASE_URL=" + _COMPOSE_URL + " (the URL from "
        "docker-compose.yml); alternatively install the pgserver wheel or put PostgreSQL's "
        "initdb and pg_ctl on PATH."
    )


@dataclasses.dataclass(frozen=True)
class _Binaries:
    backend: str
    bin_dir: Path
    major: int

    def exe(self, name: str) -> str:
        return str(self.bin_dir / name)


@dataclasses.dataclass(frozen=True)
class _Account:
    """The unprivileged OS account the server runs as when we are root."""

    name: str
    uid: int
    gid: int


@dataclasses.dataclass(frozen=True)
class _Postmaster:
    """The parts of ``pgdata/postmaster.pid`` we use (see PostgreSQL's pidfile.h)."""

    pid: int
    port: int
    socket_dir: str
    listen: str
    status: str

    def url(self, database: str) -> str:
        if self.socket_dir:
            host = quote(self.socket_dir, safe="/")
            return f"postgresql://{_SUPERUSER}@/{database}?host={host}&port={self.port}"
        # Only for a server started by someone else without a socket; ours always has one.
        address = self.listen.split(",")[0].strip() or "127.0.0.1"
        return f"postgresql://{_SUPERUSER}@{address}:{self.port}/{database}"


def _backend_choice() -> str:
    choice = os.environ.get(BACKEND_ENV, "auto").strip().lower() or "auto"
    if choice not in _BACKENDS:
        raise ValueError(f"{BACKEND_ENV}={choice!r}; expected one of {', '.join(_BACKENDS)}")
    return choice


def _child_env() -> dict[str, str]:
    # PGPORT, PGDATA, PGHOST... would silently override what we pass; LC_ALL=C keeps the tools'
    # messages parseable and independent of the user's locale.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _server_major(bin_dir: Path) -> int:
    # `postgres -V` is allowed as root (it exits before the root check).
    out = subprocess.run(
        [str(bin_dir / "postgres"), "-V"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
        env=_child_env(),
    ).stdout
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    if match is None:
        raise RuntimeError(f"cannot parse PostgreSQL version from {out!r}")
    return int(match.group(1))


def _complete_bin_dir(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


def _find_pgserver(reasons: list[str]) -> _Binaries | None:
    # Locate the wheel without importing it: importing pgserver runs its own server-manager
    # set-up (runtime directories, lock files, a warning when XDG_RUNTIME_DIR is unset), none of
    # which we use. Its binaries sit in pginstall/bin (pgserver._commands.POSTGRES_BIN_PATH).
    try:
        spec = importlib.util.find_spec("pgserver")
    except (ImportError, ValueError) as exc:
        reasons.append(f"the pgserver wheel cannot be located: {exc}")
        return None
    if spec is None or spec.origin is None:
        reasons.append("the pgserver wheel is not installed")
        return None
    bin_dir = Path(spec.origin).parent / "pginstall" / "bin"
    if not _complete_bin_dir(bin_dir):
        reasons.append(f"the pgserver wheel has no initdb/pg_ctl/postgres in {bin_dir}")
        return None
    try:
        return _Binaries("pgserver", bin_dir, _server_major(bin_dir))
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        reasons.append(f"the pgserver wheel's postgres does not run: {exc}")
        return None


def _find_system(reasons: list[str]) -> _Binaries | None:
    initdb = shutil.which("initdb")
    if initdb is None:
        reasons.append("no initdb on PATH")
        return None
    # Resolve symlinks (e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb) so that
    # initdb, pg_ctl and postgres all come from one installation of one version.
    bin_dir = Path(initdb).resolve().parent
    if not _complete_bin_dir(bin_dir):
        reasons.append(f"initdb found in {bin_dir} but pg_ctl or postgres is missing there")
        return None
    try:
        return _Binaries("system", bin_dir, _server_major(bin_dir))
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        reasons.append(f"the postgres in {bin_dir} does not run: {exc}")
        return None


def _resolve_binaries(pgdata: Path) -> _Binaries:
    choice = _backend_choice()
    finders = {"pgserver": _find_pgserver, "system": _find_system}
    order = ("pgserver", "system") if choice == "auto" else (choice,)
    existing_major = _cluster_major(pgdata)
    reasons: list[str] = []
    if choice != "auto":
        reasons.append(f"{BACKEND_ENV}={choice}")
    for name in order:
        found = finders[name](reasons)
        if found is None:
            continue
        if existing_major is not None and found.major != existing_major:
            # A cluster's files are only readable by its own major version.
            reasons.append(
                f"{pgdata} holds a PostgreSQL {existing_major} cluster but the {name} "
                f"binaries are PostgreSQL {found.major}"
            )
            continue
        _LOG.info("using %s PostgreSQL %d binaries from %s", name, found.major, found.bin_dir)
        return found
    raise EmbeddedPostgresUnavailableError(_unavailable_message(reasons))


def _cluster_major(pgdata: Path) -> int | None:
    try:
        text = (pgdata / "PG_VERSION").read_text().strip()
    except FileNotFoundError:
        return None
    return int(text.split(".")[0])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _is_postgres(pid: int) -> bool:
    """Whether ``pid`` is a live PostgreSQL process, not a recycled pid or a zombie."""
    if pid == os.getpid() or not _pid_alive(pid):
        return False
    try:
        # After a reboot or container restart the pid in a stale postmaster.pid may belong to
        # an unrelated process; zombies have an empty cmdline.
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return sys.platform != "linux"  # no /proc (macOS): trust the pid check
    except OSError:
        return True  # cannot tell; assume it is one rather than touch its files
    # Judge by the program name only: any other process whose arguments merely mention
    # postgres (a shell running "env DATABASE_URL=postgresql://..." for instance) must never
    # be taken for the server and signalled.
    program = cmdline.split(b"\0", 1)[0].split(b" ", 1)[0]
    return os.path.basename(program).startswith((b"postgres", b"postmaster"))


def _read_postmaster(pgdata: Path) -> _Postmaster | None:
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    if len(lines) < 8 or not lines[0].strip().isdigit():
        return None  # being written right now, or damaged
    try:
        port = int(lines[3].strip())
    except ValueError:
        return None
    return _Postmaster(
        pid=int(lines[0].strip()),
        port=port,
        socket_dir=lines[4].strip(),
        listen=lines[5].strip(),
        status=lines[7].strip(),
    )


def _can_connect(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=5):
            return True
    except psycopg.OperationalError:
        return False


class EmbeddedPostgres:
    """A PostgreSQL server private to ``data_dir``; see the module docstring."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = Path(data_dir).expanduser().resolve()
        self._pgdata = self._data_dir / "pgdata"
        self._url: str | None = None
        self._owner = False  # True when this object must shut the server down
        self._pid_at_start: int | None = None
        self._postmaster_pid: int | None = None
        self._atexit_registered = False
        self._previous_handlers: dict[int, Any] = {}

    # -- public API ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the embedded PostgreSQL server is not started; call start()")
        return self._url

    def start(self) -> str:
        """Start the server (or attach to the one already running on this pgdata); return its URL.

        Idempotent. Ensures the database ``evident`` exists.
        """
        if sys.platform == "win32":
            raise EmbeddedPostgresUnavailableError(
                _unavailable_message(["the embedded server needs Unix sockets, not on Windows"])
            )
        if self._url is not None and self._postmaster_pid is not None:
            if _pid_alive(self._postmaster_pid) and _can_connect(self._url):
                return self._url
            _LOG.warning("embedded PostgreSQL in %s went away; starting it again", self._pgdata)
        began = time.monotonic()
        self._data_dir.mkdir(parents=True, exist_ok=True)
        with self._lock():
            try:
                postmaster = self._attach_or_launch()
                admin_url = postmaster.url("postgres")
                self._ensure_database(admin_url)
            except BaseException:
                # Includes KeyboardInterrupt mid-start: never leave a half-started server behind.
                if self._owner:
                    self._shutdown()
                self._forget()
                raise
        self._url = postmaster.url(_DATABASE)
        self._postmaster_pid = postmaster.pid
        self._install_signal_handlers()
        _LOG.info(
            "embedded PostgreSQL ready in %.2fs (%s): %s",
            time.monotonic() - began,
            "owner" if self._owner else "attached to a server owned by another process",
            self._url,
        )
        return self._url

    def stop(self) -> None:
        """Fast shutdown (``pg_ctl stop -m fast`` semantics) if this object owns the server."""
        if self._pid_at_start is not None and os.getpid() != self._pid_at_start:
            return  # a forked child inherited this object; the server belongs to the parent
        if self._url is None and not self._owner:
            return
        began = time.monotonic()
        if self._owner and self._data_dir.exists():
            with self._lock():
                self._shutdown()
            _LOG.info("embedded PostgreSQL stopped in %.2fs", time.monotonic() - began)
        elif not self._owner:
            _LOG.info("detached from embedded PostgreSQL owned by another process")
        self._forget()

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- start ---------------------------------------------------------------------------------

    def _attach_or_launch(self) -> _Postmaster:
        running = self._running_postmaster()
        if running is not None:
            owner_pid = self._read_owner_pid()
            if owner_pid is not None and owner_pid != os.getpid() and _pid_alive(owner_pid):
                _LOG.info("attaching to embedded PostgreSQL owned by process %d", owner_pid)
                self._owner = False
            else:
                # Its starter died without stopping it (e.g. SIGKILL): adopt it so that it is
                # stopped when we stop.
                _LOG.info("adopting embedded PostgreSQL already running (pid %d)", running.pid)
                self._become_owner()
            return running
        binaries = _resolve_binaries(self._pgdata)
        account = self._server_account()
        self._prepare_directories(binaries, account)
        if _cluster_major(self._pgdata) is None:
            self._initdb(binaries, account)
        socket_dir = self._socket_dir()
        self._prepare_socket_dir(socket_dir, account)
        self._write_config(socket_dir, account)
        self._rotate_log()
        self._become_owner()  # before launching, so an interrupted start is still cleaned up
        began = time.monotonic()
        self._run(
            binaries,
            account,
            [
                "pg_ctl",
                "start",
                "-D",
                str(self._pgdata),
                "-l",
                str(self._pgdata / _LOG_NAME),
                "-w",
                "-t",
                str(_START_TIMEOUT_S),
                "-s",
            ],
            timeout=_START_TIMEOUT_S + 10,
        )
        postmaster = _read_postmaster(self._pgdata)
        if postmaster is None or postmaster.status != "ready":
            raise RuntimeError(f"PostgreSQL did not become ready; see {self._log_path}")
        _LOG.info(
            "started PostgreSQL %d (%s) pid %d in %.2fs; log: %s",
            binaries.major,
            binaries.backend,
            postmaster.pid,
            time.monotonic() - began,
            self._log_path,
        )
        return postmaster

    def _running_postmaster(self) -> _Postmaster | None:
        """The server running on our pgdata, once it accepts connections; None if none runs."""
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            postmaster = _read_postmaster(self._pgdata)
            if postmaster is None or not _pid_alive(postmaster.pid):
                return None  # absent, or a stale pid file postgres itself will replace
            if not _is_postgres(postmaster.pid):
                # PostgreSQL refuses to start while its lock file names a live process, even
                # an unrelated one, so remove the stale file ourselves.
                _LOG.warning("removing stale %s (pid %d)", "postmaster.pid", postmaster.pid)
                with contextlib.suppress(FileNotFoundError):
                    (self._pgdata / "postmaster.pid").unlink()
                return None
            if postmaster.status == "ready" and _can_connect(postmaster.url("postgres")):
                return postmaster
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"a PostgreSQL process (pid {postmaster.pid}) holds {self._pgdata} but does "
                    f"not accept connections (status {postmaster.status!r}); see {self._log_path}"
                )
            # Another program is starting or stopping it right now; wait for it to settle.
            time.sleep(0.2)

    def _server_account(self) -> _Account | None:
        if os.geteuid() != 0:
            return None
        import pwd  # noqa: PLC0415  (POSIX only; start() already refused Windows)

        if (self._pgdata / "PG_VERSION").exists():
            owner = self._pgdata.stat().st_uid
            if owner != 0:
                entry = pwd.getpwuid(owner)
                return _Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
        for name in ("postgres", _ROOT_FALLBACK_ACCOUNT):
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            return _Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
        _LOG.warning("running as root: creating system account %r", _ROOT_FALLBACK_ACCOUNT)
        commands = [
            ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/bin/false"],
            ["adduser", "-S", "-D", "-H", "-s", "/bin/false"],  # busybox (Alpine)
        ]
        for command in commands:
            if shutil.which(command[0]) is None:
                continue
            done = subprocess.run(
                [*command, _ROOT_FALLBACK_ACCOUNT], capture_output=True, text=True, check=False
            )
            if done.returncode == 0:
                entry = pwd.getpwnam(_ROOT_FALLBACK_ACCOUNT)
                return _Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
            _LOG.warning("%s failed: %s", command[0], done.stderr.strip())
        raise EmbeddedPostgresUnavailableError(
            _unavailable_message(
                [
                    "PostgreSQL refuses to run as root and no unprivileged account "
                    f"('postgres' or {_ROOT_FALLBACK_ACCOUNT!r}) exists or could be created"
                ]
            )
        )

    def _prepare_directories(self, binaries: _Binaries, account: _Account | None) -> None:
        # Leftovers of an initdb that was interrupted; never a cluster (see _initdb).
        for leftover in self._data_dir.glob(".pgdata-init-*"):
            _LOG.info("removing unfinished initdb directory %s", leftover)
            shutil.rmtree(leftover, ignore_errors=True)
        if account is None:
            return
        # The server account must reach its data directory and the binaries' installation.
        _grant_search(self._data_dir)
        _grant_search(binaries.bin_dir.parent)

    def _initdb(self, binaries: _Binaries, account: _Account | None) -> None:
        if self._pgdata.exists():
            if any(self._pgdata.iterdir()):
                raise RuntimeError(
                    f"{self._pgdata} exists and is not empty but holds no PostgreSQL cluster "
                    "(no PG_VERSION); move it away or choose another data directory"
                )
            self._pgdata.rmdir()
        # initdb into a scratch directory and rename it into place, so a crash or Ctrl-C during
        # initdb never leaves a half-made pgdata that later starts would trip over.
        scratch = Path(tempfile.mkdtemp(prefix=".pgdata-init-", dir=self._data_dir))
        if account is not None:
            os.chown(scratch, account.uid, account.gid)
        began = time.monotonic()
        _LOG.info("initialising a PostgreSQL %d cluster in %s", binaries.major, self._pgdata)
        try:
            self._run(
                binaries,
                account,
                [
                    "initdb",
                    "-D",
                    str(scratch),
                    "-U",
                    _SUPERUSER,
                    # Trust is safe here: there is no TCP listener and the socket directory is
                    # mode 0700, so only the owning OS user (and root) can connect.
                    "--auth=trust",
                    "--encoding=UTF8",
                    # The C locale exists everywhere, so a data directory moves between machines.
                    "--locale=C",
                ],
                timeout=300,
            )
            with (scratch / "postgresql.conf").open("a") as conf:
                conf.write(f"\n{_INCLUDE_LINE}\n")
            os.rename(scratch, self._pgdata)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        _LOG.info("initdb finished in %.2fs", time.monotonic() - began)

    def _socket_dir(self) -> Path:
        preferred = self._data_dir / "run"
        if len(os.fsencode(preferred / _SOCKET_NAME)) <= _MAX_SOCKET_PATH:
            return preferred
        # Too long for sockaddr_un: use a short directory keyed by the data directory, so each
        # data directory still gets its own socket. /tmp rather than $TMPDIR, which is long on
        # macOS.
        digest = hashlib.sha256(os.fsencode(self._data_dir)).hexdigest()[:16]
        short = Path("/tmp") / f"evident-pg-{digest}"
        _LOG.info("socket path under %s is too long; using %s", self._data_dir, short)
        return short

    def _prepare_socket_dir(self, socket_dir: Path, account: _Account | None) -> None:
        with contextlib.suppress(FileExistsError):
            socket_dir.mkdir(mode=0o700)
        info = socket_dir.lstat()
        expected_uid = os.geteuid() if account is None else account.uid
        if account is not None and info.st_uid == 0 and stat.S_ISDIR(info.st_mode):
            os.chown(socket_dir, account.uid, account.gid)
            info = socket_dir.lstat()
        # In /tmp anyone could have created it first; refuse a directory we do not control.
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != expected_uid:
            raise RuntimeError(f"socket directory {socket_dir} is not a directory owned by us")
        os.chmod(socket_dir, 0o700)

    def _write_config(self, socket_dir: Path, account: _Account | None) -> None:
        conf = self._pgdata / "postgresql.conf"
        if _INCLUDE_LINE not in conf.read_text():
            with conf.open("a") as handle:  # a cluster made by pgserver itself lacks it
                handle.write(f"\n{_INCLUDE_LINE}\n")
        quoted = str(socket_dir).replace("'", "''")
        # Rewritten on every start, because the socket directory follows the data directory.
        text = (
            "# Written by Evident on every start of the embedded server; edits are lost.\n"
            "listen_addresses = ''\n"
            f"port = {_PORT}\n"
            f"unix_socket_directories = '{quoted}'\n"
        )
        path = self._pgdata / _CONF_NAME
        path.write_text(text)
        if account is not None:
            os.chown(path, account.uid, account.gid)

    def _rotate_log(self) -> None:
        # pg_ctl appends to one file forever; keep it bounded across restarts.
        log = self._log_path
        with contextlib.suppress(FileNotFoundError):
            if log.stat().st_size > _LOG_ROTATE_BYTES:
                os.replace(log, log.with_name(_LOG_NAME + ".1"))

    def _ensure_database(self, admin_url: str) -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (_DATABASE,)
            ).fetchone()
            if exists is None:
                _LOG.info("creating database %s", _DATABASE)
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(f'CREATE DATABASE "{_DATABASE}"')

    def _become_owner(self) -> None:
        self._owner = True
        self._pid_at_start = os.getpid()
        self._owner_file.write_text(f"{os.getpid()}\n")
        if not self._atexit_registered:
            atexit.register(self._stop_at_exit)
            self._atexit_registered = True

    # -- stop ----------------------------------------------------------------------------------

    def _shutdown(self) -> None:
        """Fast shutdown of the postmaster on our pgdata, escalating to immediate if it hangs.

        Signals the postmaster directly, exactly as ``pg_ctl stop -m fast`` does, so that it
        works from ``atexit`` without locating binaries or switching users (root may signal the
        server account's processes).
        """
        postmaster = _read_postmaster(self._pgdata)
        if postmaster is not None and _is_postgres(postmaster.pid):
            for sig, wait_s in ((signal.SIGINT, _STOP_TIMEOUT_S), (signal.SIGQUIT, 10.0)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(postmaster.pid, sig)
                if self._wait_stopped(postmaster.pid, wait_s):
                    break
                _LOG.warning("PostgreSQL did not stop after %s; escalating", sig.name)
        with contextlib.suppress(FileNotFoundError):
            self._owner_file.unlink()

    def _wait_stopped(self, pid: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            # The postmaster removes its pid file as the very last step of a shutdown; the
            # process itself may linger as a zombie if nothing reaps it (containers).
            current = _read_postmaster(self._pgdata)
            if current is None or current.pid != pid or not _pid_alive(pid):
                return True
            time.sleep(0.02)
        return False

    def _forget(self) -> None:
        self._owner = False
        self._url = None
        self._postmaster_pid = None
        if self._atexit_registered:
            atexit.unregister(self._stop_at_exit)
            self._atexit_registered = False
        self._restore_signal_handlers()

    def _stop_at_exit(self) -> None:
        try:
            self.stop()
        except Exception:  # at interpreter exit there is nobody left to handle it
            _LOG.exception("could not stop the embedded PostgreSQL server at exit")

    # -- signals -------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        if not self._owner or threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if sig in self._previous_handlers or signal.getsignal(sig) is not signal.SIG_DFL:
                continue  # someone else handles it; they must stop us (see module docstring)
            self._previous_handlers[sig] = signal.signal(sig, _exit_on_signal)

    def _restore_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, previous in self._previous_handlers.items():
            if signal.getsignal(sig) is _exit_on_signal:
                signal.signal(sig, previous)
        self._previous_handlers.clear()

    # -- helpers -------------------------------------------------------------------------------

    @property
    def _log_path(self) -> Path:
        return self._pgdata / _LOG_NAME

    @property
    def _owner_file(self) -> Path:
        return self._data_dir / "embedded-postgres.owner"

    def _read_owner_pid(self) -> int | None:
        try:
            return int(self._owner_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise start/stop across processes sharing this data directory."""
        import fcntl  # noqa: PLC0415  (POSIX only; start() already refused Windows)

        with (self._data_dir / "embedded-postgres.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _run(
        self,
        binaries: _Binaries,
        account: _Account | None,
        argv: Sequence[str],
        *,
        timeout: float,
    ) -> None:
        command = [binaries.exe(argv[0]), *argv[1:]]
        _LOG.debug("running %s%s", command, f" as {account.name}" if account else "")
        # Temporary files, not pipes: the postmaster started by pg_ctl could inherit a pipe and
        # keep it open, so reading it would never finish.
        with tempfile.TemporaryFile() as out:
            kwargs: dict[str, Any] = {}
            if account is not None:
                kwargs = {"user": account.uid, "group": account.gid, "extra_groups": []}
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_child_env(),
                cwd=str(self._data_dir),
                timeout=timeout,
                check=False,
                **kwargs,
            )
            out.seek(0)
            output = _decode(out)
        if done.returncode != 0:
            tail = ""
            with contextlib.suppress(OSError):
                tail = "\n".join(self._log_path.read_text().splitlines()[-20:])
            raise RuntimeError(
                f"{argv[0]} failed with exit code {done.returncode}:\n{output}"
                + (f"\nlast lines of {self._log_path}:\n{tail}" if tail else "")
            )
        if output.strip():
            _LOG.debug("%s: %s", argv[0], output.strip())


def _decode(handle: IO[bytes]) -> str:
    return handle.read().decode("utf-8", errors="replace")


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    # Raising SystemExit unwinds `with`/`finally` blocks and then runs atexit, which stops the
    # server; the default action would kill the interpreter on the spot.
    _LOG.info("received %s; exiting", signal.Signals(signum).name)
    raise SystemExit(128 + signum)


def _grant_search(path: Path) -> None:
    """Add o+x (search, not read) to ``path`` and its ancestors where missing."""
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            _LOG.warning(
                "granting others search permission (o+x) on %s so the unprivileged PostgreSQL "
                "account can reach its files",
                directory,
            )
            os.chmod(directory, stat.S_IMODE(mode) | stat.S_IXOTH)
