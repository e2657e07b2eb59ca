"""The embedded PostgreSQL server, against real servers: both backends, restarts, signals, errors.

Each test gets its own data directory, so nothing here touches the session-wide server that
other tests use.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest

from application.embedded_postgres import (
    BACKEND_ENV,
    EmbeddedPostgres,
    EmbeddedPostgresUnavailableError,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def _system_bin_dir() -> Path | None:
    """A directory holding the machine's initdb and pg_ctl, whether or not it is on PATH."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    on_path = shutil.which("initdb")
    if on_path is not None:
        candidates.append(Path(on_path).resolve().parent)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


def _major(bin_dir: Path) -> int:
    out = subprocess.run(
        [str(bin_dir / "postgres"), "-V"], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split()[-1].split(".")[0])


def _assert_nothing_listens(url: str) -> None:
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=3).close()


def _round_trip(data_dir: Path) -> str:
    """Start, write, stop, start, read back, stop; returns the server version seen."""
    server = EmbeddedPostgres(data_dir)
    url = server.start()
    assert server.start() == url  # idempotent
    assert server.url == url
    assert "/evident?" in url
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE survives (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO survives VALUES (1, 'still here')")
    server.stop()
    server.stop()  # idempotent
    _assert_nothing_listens(url)

    with EmbeddedPostgres(data_dir) as again:
        assert again.url == url
        with psycopg.connect(again.url) as conn:
            row = conn.execute("SELECT note FROM survives WHERE id = 1").fetchone()
            version = conn.execute("SHOW server_version").fetchone()
        assert row == ("still here",)
        assert version is not None
    _assert_nothing_listens(url)
    with pytest.raises(RuntimeError):
        _ = again.url
    return str(version[0])


@pytest.fixture
def pgserver_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BACKEND_ENV, "pgserver")


@pytest.fixture
def system_bin_dir(monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = _system_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL initdb/pg_ctl installed on this machine")
    monkeypatch.setenv(BACKEND_ENV, "system")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return bin_dir


@pytest.mark.usefixtures("pgserver_backend")
def test_pgserver_data_survives_restart_and_nothing_listens_after_stop(tmp_path: Path) -> None:
    _round_trip(tmp_path / "evident")


def test_system_initdb_pg_ctl_data_survives_restart(
    tmp_path: Path, system_bin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "evident"
    version = _round_trip(data_dir)
    # Proves the fallback ran, not the wheel (whose major version may differ).
    assert version.split(".")[0] == str(_major(system_bin_dir))

    # In auto mode an existing cluster is started by binaries of its own major version, even
    # when the preferred wheel ships another one.
    monkeypatch.setenv(BACKEND_ENV, "auto")
    with EmbeddedPostgres(data_dir) as server, psycopg.connect(server.url) as conn:
        row = conn.execute("SELECT current_setting('server_version_num')::int / 10000").fetchone()
        assert row == (_major(system_bin_dir),)


@pytest.mark.usefixtures("pgserver_backend")
def test_long_data_dir_puts_socket_in_short_tmp_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / ("d" * 60) / ("e" * 60)
    with EmbeddedPostgres(data_dir) as server:
        socket_dir = psycopg.conninfo.conninfo_to_dict(server.url)["host"]
        assert str(socket_dir).startswith("/tmp/evident-pg-")
        assert len(f"{socket_dir}/.s.PGSQL.5432") <= 107
        with psycopg.connect(server.url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("evident",)
    shutil.rmtree(str(socket_dir))  # a fresh tmp_path each run would leave one behind in /tmp


@pytest.mark.usefixtures("pgserver_backend")
def test_sigterm_to_owner_stops_server_and_an_attached_process_does_not(tmp_path: Path) -> None:
    data_dir = tmp_path / "evident"
    owner_script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from application.embedded_postgres import EmbeddedPostgres
        server = EmbeddedPostgres(Path(sys.argv[1]))
        print(server.start(), flush=True)
        time.sleep(120)
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", owner_script, str(data_dir)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        url = owner.stdout.readline().strip()
        assert url.startswith("postgresql://"), url

        # A second process (here: this one) attaches; its stop() must not pull the server out
        # from under the owner.
        guest = EmbeddedPostgres(data_dir)
        assert guest.start() == url
        guest.stop()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)

        owner.send_signal(signal.SIGTERM)
        assert owner.wait(timeout=30) == 128 + signal.SIGTERM
        _assert_nothing_listens(url)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        # If the owner died without stopping, adopt and stop it: no server outlives the test.
        cleanup = EmbeddedPostgres(data_dir)
        cleanup.start()
        cleanup.stop()


@pytest.mark.usefixtures("pgserver_backend")
def test_stale_pid_file_from_a_crash_does_not_block_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "evident"
    with EmbeddedPostgres(data_dir):
        pass
    # As after a power cut or container restart: the lock file survives and its pid now
    # belongs to an unrelated live process (here: this test).
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    # A bystander whose command line mentions postgres must not be mistaken for the server.
    bystander = subprocess.Popen(["sh", "-c", "sleep 60", "postgresql://postgres@/x"])
    try:
        lines = [str(bystander.pid), str(data_dir / "pgdata"), "0", "5432", "", "", "0 0",
                 "ready"]
        pid_file.write_text("\n".join(lines) + "\n")
        caplog.set_level(logging.INFO, logger="evident.embedded_postgres")
        with EmbeddedPostgres(data_dir) as server, psycopg.connect(server.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert bystander.poll() is None, "the bystander process was signalled"
    finally:
        bystander.kill()
        bystander.wait()
    assert "removing stale postmaster.pid" in caplog.text


def test_no_backend_names_database_url_and_docker_compose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    # Hide the wheel the way a machine without it would look: the module cannot be found.
    monkeypatch.setitem(sys.modules, "pgserver", None)
    for backend in ("auto", "system", "pgserver"):
        monkeypatch.setenv(BACKEND_ENV, backend)
        with pytest.raises(EmbeddedPostgresUnavailableError) as caught:
            EmbeddedPostgres(tmp_path / backend).start()
        message = str(caught.value)
        assert "DATABASE_URL" in message
        assert "docker compose up -d db" in message
        assert "postgresql://evident:evident@127.0.0.1:5432/evident" in message
        assert "postgresql://user@host:5432/db" in message
        assert "\n" not in message  # one paragraph


def test_cluster_is_not_started_by_binaries_of_another_major_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, system_bin_dir: Path
) -> None:
    data_dir = tmp_path / "evident"
    (data_dir / "pgdata").mkdir(parents=True)
    other_major = _major(system_bin_dir) + 1
    (data_dir / "pgdata" / "PG_VERSION").write_text(f"{other_major}\n")
    with pytest.raises(EmbeddedPostgresUnavailableError, match=f"PostgreSQL {other_major} cluster"):
        EmbeddedPostgres(data_dir).start()


def test_unknown_backend_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BACKEND_ENV, "sqlite")
    with pytest.raises(ValueError, match=BACKEND_ENV):
        EmbeddedPostgres(tmp_path).start()
