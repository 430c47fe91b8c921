"""A real PostgreSQL server for tests: Debian's ``postgresql`` package, started in a temporary folder on
127.0.0.1 and a free port, stopped at the end.

Where the server binaries are missing and the tests run as root, the package is installed once with apt-get
(bounded by ``APT_TIMEOUT_S``); where that cannot be done, the tests that need it skip with a message naming what
is missing. PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest

from server_support import free_port

APT_TIMEOUT_S = 600
START_TIMEOUT_S = 60


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@cache
def server_binaries() -> tuple[Path | None, str]:
    """(the folder of initdb / pg_ctl, or None, and why not)."""
    if _bindir() is None and os.geteuid() == 0 and shutil.which("apt-get"):
        try:
            env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["apt-get", "update", "-qq"], check=False, timeout=APT_TIMEOUT_S, env=env)
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "postgresql"], check=False, timeout=APT_TIMEOUT_S, env=env
            )
        except subprocess.TimeoutExpired:
            return None, f"installing Debian's postgresql took over {APT_TIMEOUT_S} s"
    bindir = _bindir()
    if bindir is None:
        return None, "PostgreSQL's server (Debian package postgresql: initdb, pg_ctl) is not installed"
    return bindir, ""


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a throw-away server; yields the SQLAlchemy URL of its ``postgres`` database (user ``atelier``)."""
    bindir, why = server_binaries()
    if bindir is None:
        pytest.skip(f"no PostgreSQL server for the store's tests: {why}")
    folder = Path(tempfile.mkdtemp(prefix="atelier-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    port = free_port()
    run = {"check": True, "capture_output": True, "text": True, "timeout": START_TIMEOUT_S}
    try:
        try:
            subprocess.run(
                # -N: no flush to disk at the end: the folder is thrown away, and on a slow disk it is the slow part
                _as_server_user(
                    [str(bindir / "initdb"), "-N", "-D", str(data), "-A", "trust", "-U", "atelier"]
                ),
                **run,
            )
            options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=on"
            # -l: the server writes its log there, not into our pipes (which would keep run() waiting)
            start = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-o", options]
            subprocess.run(_as_server_user([*start, "-w", "-t", "60", "start"]), **run)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            log = folder / "server.log"
            detail = log.read_text()[-2000:] if log.is_file() else ""
            said = error.stderr or error.stdout or error
            raise RuntimeError(f"PostgreSQL did not start: {said} {detail}") from None
        yield f"postgresql+psycopg://atelier@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
            timeout=START_TIMEOUT_S,
        )
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(server_url: str) -> str:
    """A new empty database on the server; its URL."""
    import sqlalchemy as sa

    name = "t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as db:
        db.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name
