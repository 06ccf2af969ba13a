"""A real PostgreSQL server for the tests: initdb in a temporary folder, started on a free
loopback port as an unprivileged user (PostgreSQL refuses to run as root), stopped afterwards.

Debian's ``postgresql`` package provides the binaries (scripts/test installs it when it is
missing and runs as root). ``start`` raises ``Unavailable`` with one line saying why when no
server can be started here; the fixtures turn that into a skip, or a failure under CI.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.botapi.load import free_port

__all__ = ["PostgresServer", "Unavailable", "find_bindir", "pause", "resume", "running"]

USER = "storybot"
PASSWORD = "pg-test-password-never-logged"
START_SECONDS = 60.0


class Unavailable(Exception):
    """No PostgreSQL server can be started here; the message says why, in one line."""


def find_bindir() -> Path | None:
    """The folder of the newest installed PostgreSQL's initdb and postgres (Debian's layout
    first, then PATH)."""
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _unprivileged() -> pwd.struct_passwd | None:
    """The account to run the server as when this process is root (None when it is not)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise Unavailable("running as root and there is no 'postgres' or 'nobody' user to run as")


@dataclass
class PostgresServer:
    """A running server: ``url(database)`` connects to one of its databases."""

    port: int
    folder: Path
    process: subprocess.Popen[bytes]
    bindir: Path
    account: pwd.struct_passwd | None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log(self) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def _run_as(account: pwd.struct_passwd | None) -> dict[str, object]:
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _initdb(bindir: Path, data: Path, folder: Path, account: pwd.struct_passwd | None) -> None:
    pwfile = folder / "pw"
    pwfile.write_text(PASSWORD)
    if account is not None:
        pwfile.chmod(0o600)
        os.chown(pwfile, account.pw_uid, account.pw_gid)
    done = subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        ],
        capture_output=True,
        check=False,
        cwd=folder,
        timeout=120,
        **_run_as(account),  # type: ignore[arg-type]
    )
    if done.returncode != 0:
        last = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
        raise Unavailable(f"initdb failed: {last[-1] if last else done.returncode}")


def start() -> PostgresServer:
    """Start a fresh server; raises ``Unavailable`` when it cannot."""
    bindir = find_bindir()
    if bindir is None:
        raise Unavailable(
            "PostgreSQL is not installed (scripts/test installs Debian's postgresql package "
            "when run as root)"
        )
    account = _unprivileged()
    folder = Path(tempfile.mkdtemp(prefix="storybot-pg-"))
    if account is not None:
        os.chown(folder, account.pw_uid, account.pw_gid)
    data = folder / "data"
    try:
        _initdb(bindir, data, folder, account)
        port = free_port()
        process = _launch(bindir, folder, port, account)
        server = PostgresServer(port, folder, process, bindir, account)
        _wait_ready(server)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return server


# prctl, looked up here: the child between fork and exec only calls it (no dlopen there).
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the server's process before it starts: a fast shutdown when the test run that started
    it dies without stopping it (killed, timed out), instead of a server left running."""
    _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGINT))


def _launch(
    bindir: Path, folder: Path, port: int, account: pwd.struct_passwd | None
) -> subprocess.Popen[bytes]:
    with (folder / "server.log").open("ab") as log:
        return subprocess.Popen(
            [
                str(bindir / "postgres"),
                "-D",
                str(folder / "data"),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={folder}",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=folder,
            preexec_fn=_die_with_parent,
            **_run_as(account),  # type: ignore[arg-type]
        )


def pause(server: PostgresServer) -> None:
    """Stop the server (fast shutdown: every connection is cut), keeping its data."""
    server.process.send_signal(signal.SIGINT)
    server.process.wait(30)


def resume(server: PostgresServer) -> None:
    """Start a paused server again, on the same port and data."""
    server.process = _launch(server.bindir, server.folder, server.port, server.account)
    _wait_ready(server)


def _wait_ready(server: PostgresServer) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        if server.process.poll() is not None:
            tail = server.log().strip().splitlines()
            raise Unavailable(f"the server exited at start: {tail[-1] if tail else '?'}")
        try:
            psycopg.connect(server.url(), connect_timeout=2).close()
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                stop(server)
                raise Unavailable(f"the server did not accept connections: {exc}") from None
        time.sleep(0.1)  # polling a predicate (the server accepts) with a deadline


def stop(server: PostgresServer) -> None:
    """Fast shutdown (SIGINT), then the folder goes."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(10)
    shutil.rmtree(server.folder, ignore_errors=True)


@contextlib.contextmanager
def running() -> Iterator[PostgresServer]:
    server = start()
    try:
        yield server
    finally:
        stop(server)
