"""Benchmark: the REST API under load on loopback, and no acknowledged event lost across a restart.

1. Starts ``atelier serve ARTIFACTS`` (a child process, 127.0.0.1, a free port, its own SQLite store).
2. For each endpoint (together, similar, personal, search), ``--connections`` keep-alive connections send
   requests for ``--warmup`` seconds (not counted: the product widgets compute each answer once, then serve it
   from their cache), then for ``--seconds`` (ids drawn from the catalogue and the shoppers): throughput,
   p50 / p99 latency, errors (non-2xx or broken connections).
3. Events under load: ``--connections`` connections post events (API key, each with its own idempotency key) for
   ``--seconds``; half-way the server is stopped (SIGTERM) and started again on the same store; a request that
   fails is retried with the same key until acknowledged. Then every acknowledged event must be in the store
   exactly once: none lost, none doubled.
4. Rolling restarts under load: ``--connections`` clients ask Top Picks Together for ``--seconds``, each request
   on a new connection, while SIGHUP replaces the server's workers again and again (the next SIGHUP once every
   worker is new): every request must be answered, none reset.

The load generator is a small asyncio HTTP/1.1 client (no third-party tool to install); it runs in this
process while the server runs in another, so on 2 cores they share the machine, as a shop's front and back
would not. Targets (issue 7): at least 1,000 requests/s for together and similar, p99 under 50 ms, zero errors,
zero lost events, zero failed requests across rolling restarts.

    .venv/bin/python benchmarks/api_load.py var/demo/artifacts --connections 50 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import numpy as np
import polars as pl
import uvloop

TARGET_RPS = 1_000
TARGET_P99_MS = 50.0


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict | None = None
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        if body:
            head += "Content-Type: application/json\r\n"
        for key, value in (headers or {}).items():
            head += f"{key}: {value}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed")
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def hammer(
    port: int,
    connections: int,
    seconds: float,
    next_path: Callable[[], str],
    new_connection_each: bool = False,
) -> dict:
    """GET ``next_path()`` from ``connections`` clients for ``seconds``, each on one keep-alive connection (or on
    a new connection per request): counts, latencies, and what failed (non-2xx or a broken connection)."""
    latencies: list[float] = []
    failures: list[str] = []
    stop = time.perf_counter() + seconds

    async def one_connection():
        conn = Connection(port)
        while time.perf_counter() < stop:
            started = time.perf_counter()
            try:
                status, _ = await conn.request("GET", next_path())
                if status >= 300:
                    failures.append(f"status {status}")
            except (OSError, ConnectionError, asyncio.IncompleteReadError) as error:
                failures.append(repr(error))
                conn.close()
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            if new_connection_each:
                conn.close()
        conn.close()

    began = time.perf_counter()
    await asyncio.gather(*(one_connection() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    p50, p99 = np.percentile(latencies, [50, 99]) if latencies else (float("nan"), float("nan"))
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": p50,
        "p99": p99,
        "errors": len(failures),
        "failures": failures,
    }


class Server:
    """``atelier serve`` in a child process, on a store that outlives it."""

    def __init__(self, artifacts: Path, store_url: str, port: int):
        self.command = [sys.executable, "-m", "atelier.cli", "serve", str(artifacts), "--port", str(port)]
        self.env = os.environ | {
            "ATELIER_SERVICE__STORE_URL": store_url,
            "ATELIER_SERVICE__RATE_LIMIT_PER_MINUTE": "100000000",
        }
        self.port = port
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 180) -> None:
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.25)
        raise RuntimeError(f"the server did not listen within {timeout} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


async def events_across_a_restart(
    server: Server, key: str, products: list[str], connections: int, seconds: float
):
    """Post events for ``seconds``, restarting the server half-way; returns (acknowledged keys, retries)."""
    acknowledged: dict[str, int] = {}
    retries = 0
    stop = time.perf_counter() + seconds

    async def poster():
        nonlocal retries
        conn = Connection(server.port)
        while time.perf_counter() < stop:
            idem = uuid.uuid4().hex
            body = json.dumps(
                {
                    "user_id": f"load-{idem[:6]}",
                    "product_id": random.choice(products),
                    "kind": "view",
                    "idempotency_key": idem,
                }
            ).encode()
            while (
                True
            ):  # until acknowledged: a retry carries the same key, so it cannot store the event twice
                try:
                    status, reply = await conn.request("POST", "/v1/events", body, {"X-API-Key": key})
                    if status == 202:
                        acknowledged[idem] = json.loads(reply)["event_id"]
                        break
                    raise ConnectionError(f"status {status}")
                except (OSError, ConnectionError, asyncio.IncompleteReadError):
                    retries += 1
                    conn.close()
                    await asyncio.sleep(0.2)
        conn.close()

    async def restart_half_way():
        await asyncio.sleep(seconds / 2)
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(server.start)

    await asyncio.gather(restart_half_way(), *(poster() for _ in range(connections)))
    return acknowledged, retries


def worker_pids(server: Server) -> set[int]:
    """The pids of ``atelier serve``'s workers (its spawned children, not multiprocessing's resource tracker)."""
    import psutil

    pids = set()
    for child in psutil.Process(server.process.pid).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                pids.add(child.pid)
        except psutil.NoSuchProcess:  # a worker that has just stopped
            pass
    return pids


async def requests_across_reloads(
    server: Server, connections: int, seconds: float, next_path: Callable[[], str]
) -> dict:
    """:func:`hammer` with a new connection per request, while SIGHUP replaces every worker again and again
    (the next SIGHUP once all are new): its counts, and the rolling restarts completed."""
    restarts = 0
    stop = time.perf_counter() + seconds

    async def reloader():
        nonlocal restarts
        while time.perf_counter() < stop:
            before = await asyncio.to_thread(worker_pids, server)
            server.process.send_signal(signal.SIGHUP)
            deadline = time.perf_counter() + 180  # service.worker_start_seconds is 120 per worker
            while time.perf_counter() < deadline:
                await asyncio.sleep(0.5)
                now = await asyncio.to_thread(worker_pids, server)
                if len(now) == len(before) and not now & before:
                    restarts += 1
                    break
            else:
                raise RuntimeError("the workers were not replaced within 180 s of SIGHUP")

    _, load = await asyncio.gather(
        reloader(), hammer(server.port, connections, seconds, next_path, new_connection_each=True)
    )
    return load | {"restarts": restarts}


def run(coroutine):
    """Run on uvloop: the load generator shares the 2 cores with the server, so it should cost little."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifacts", type=Path)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument(
        "--warmup",
        type=float,
        default=5,
        help="seconds of load per endpoint before measuring (first answers are computed, then cached)",
    )
    parser.add_argument(
        "--endpoints",
        default="together,similar,personal,search,events,reloads",
        help="a comma-separated subset of together, similar, personal, search, events, reloads",
    )
    args = parser.parse_args(argv)

    from atelier.store.sql import Store, sqlite_url

    catalogue = pl.read_parquet(args.artifacts / "catalogue.parquet")
    products = catalogue["product_id"].to_list()
    shoppers = pl.read_parquet(args.artifacts / "personal" / "users.parquet")["user_id"].to_list()
    words = [t.split()[1] for t in catalogue["title"].drop_nulls().to_list() if len(t.split()) > 1]
    with tempfile.TemporaryDirectory() as folder:
        store_url = sqlite_url(Path(folder) / "load.db")
        key = Store(store_url).create_api_key("load")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = Server(args.artifacts, store_url, port)
        server.start()
        try:
            endpoints = {
                "together": lambda: f"/v1/products/{random.choice(products)}/together?n=10",
                "similar": lambda: f"/v1/products/{random.choice(products)}/similar?n=10",
                "personal": lambda: f"/v1/users/{random.choice(shoppers)}/recommendations?n=10",
                "search": lambda: f"/v1/products?q={quote(random.choice(words))}&n=10",
            }
            chosen = args.endpoints.split(",")
            rows = {}
            for name, next_path in endpoints.items():
                if name in chosen:
                    run(
                        hammer(port, args.connections, args.warmup, next_path)
                    )  # fills the caches: not counted
                    rows[name] = run(hammer(port, args.connections, args.seconds, next_path))
                    print(f"  {name}: {rows[name]['rps']:.0f} req/s", flush=True)
            if "reloads" in chosen:
                reloads = run(
                    requests_across_reloads(server, args.connections, args.seconds, endpoints["together"])
                )
            if "events" in chosen:
                acknowledged, retries = run(
                    events_across_a_restart(server, key, products, args.connections, args.seconds)
                )
        finally:
            server.stop()
        stored = Store(store_url).events()
    if rows:
        print_table(rows, args)
    if "reloads" in chosen:
        failures = reloads["failures"]
        print(
            f"\nrequests across {reloads['restarts']} rolling restarts (SIGHUP), a new connection each: "
            f"{reloads['requests']:,} answered, {len(failures)} failed{': ' + failures[0] if failures else ''} "
            f"(target: 0 failed: {'met' if not failures else 'MISSED'})"
        )
    if "events" not in chosen:
        return
    keys = [e.idempotency_key for e in stored]
    lost = set(acknowledged) - set(keys)
    doubled = len(keys) - len(set(keys))
    print(
        f"\nevents across one restart: {len(acknowledged):,} acknowledged, {len(stored):,} stored, "
        f"{len(lost)} lost, {doubled} doubled, {retries} retried requests "
        f"(target: 0 lost, 0 doubled: {'met' if not lost and not doubled else 'MISSED'})"
    )


def print_table(rows: dict, args) -> None:
    print(
        f"\n{args.connections} connections, {args.seconds:.0f} s per endpoint, loopback, {os.cpu_count()} CPUs"
    )
    print("| endpoint | requests | req/s | p50 ms | p99 ms | errors | target |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        gated = name in ("together", "similar")
        met = r["rps"] >= TARGET_RPS and r["p99"] < TARGET_P99_MS and r["errors"] == 0
        target = ("met" if met else "missed") if gated else "-"
        print(
            f"| {name} | {r['requests']:,} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['errors']} | {target} |"
        )


if __name__ == "__main__":
    main()
