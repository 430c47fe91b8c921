"""Servers in tests: a free loopback port, waiting for an answer, and `atelier serve` in a subprocess that is
bounded in time and always stopped."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import psutil
import uvicorn

T = TypeVar("T")


def free_port() -> int:
    """A TCP port nobody listens on at 127.0.0.1 (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def loopback_listener() -> Iterator[socket.socket]:
    """A TCP socket bound to a free port of 127.0.0.1, for a server started on it (``uvicorn_in_thread(sockets=)``):
    bound here, no other process can take the port before the server has it. Closed on exit."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        yield listener


def until(check: Callable[[], T], seconds: float, what: str) -> T:
    """The first truthy answer of ``check`` (tried every 0.2 s; a refused connection counts as no answer);
    fails the test with ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            found = check()
            if found:
                return found
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} within {seconds:.0f} s")


@contextmanager
def uvicorn_in_thread(
    config: uvicorn.Config,
    start_seconds: float = 30,
    stop_seconds: float = 10,
    *,
    sockets: list[socket.socket] | None = None,
) -> Iterator[uvicorn.Server]:
    """A uvicorn server for ``config`` (or on ``sockets`` already bound) in a background thread, yielded once it
    has started. Stopped on exit; the test fails if it does not stop within ``stop_seconds``."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, name="test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_seconds
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the server did not start within {start_seconds} s")
        time.sleep(0.05)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(stop_seconds)
        assert not thread.is_alive(), f"the server did not stop within {stop_seconds} s"


@dataclass
class ServeProcess:
    """A running ``atelier serve``: the process, its base URL, and (once stopped) everything it printed."""

    process: subprocess.Popen
    base: str
    output: str = ""


@contextmanager
def atelier_serve(artifacts: Path, env: dict[str, str], start_seconds: float = 120) -> Iterator[ServeProcess]:
    """``atelier serve ARTIFACTS`` on a free loopback port with ``env`` added to the environment, yielded once
    ``/healthz`` answers 200. Terminated on exit; its output is then in ``output``."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "atelier.cli", "serve", str(artifacts), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ | env,
    )
    served = ServeProcess(process, f"http://127.0.0.1:{port}")
    try:

        def healthy() -> bool:
            assert process.poll() is None, f"atelier serve exited: {process.communicate()[0]}"
            return httpx.get(f"{served.base}/healthz", timeout=2).status_code == 200

        until(healthy, start_seconds, "atelier serve did not answer /healthz")
        yield served
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            served.output = process.communicate(timeout=60)[0] or ""
        except subprocess.TimeoutExpired:
            process.kill()
            served.output = process.communicate()[0] or ""
            raise AssertionError(
                f"atelier serve did not stop within 60 s of SIGTERM: {served.output}"
            ) from None


def worker_pids(supervisor: subprocess.Popen) -> set[int]:
    """The pids of ``atelier serve``'s live workers: its spawned children, not multiprocessing's resource
    tracker."""
    pids = set()
    for child in psutil.Process(supervisor.pid).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                pids.add(child.pid)
        except psutil.NoSuchProcess:  # a worker that has just stopped
            pass
    return pids
