"""Several workers over one store: each applies the events any of them stored, follows a reload made through
another, and `atelier serve` replaces its workers on SIGHUP without failing a request."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading

import httpx
import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from atelier.api import create_app, serving
from atelier.api.serving import EventFeed, follow
from atelier.config import load_settings, with_section
from atelier.engine import Engine
from atelier.errors import InputError
from atelier.store.sql import Store, events, sqlite_url
from server_support import (
    atelier_serve,
    free_port,
    loopback_listener,
    until,
    uvicorn_in_thread,
    worker_pids,
)


class _Recording:
    """Stands in for an engine: notes the events applied to it."""

    widgets = frozenset({"personal"})

    def __init__(self):
        self.applied: list[str] = []

    def log_interaction(self, user_id, product_id, kind):
        self.applied.append(product_id)


def _insert(store: Store, event_id: int, product_id: str) -> None:
    """An event with a chosen id, as a transaction that committed late would leave it."""
    row = {"event_id": event_id, "user_id": "u", "product_id": product_id, "kind": "view"}
    with store.engine.begin() as db:
        db.execute(events.insert().values(**row, created_at=sa.func.now()))


def test_the_feed_applies_each_event_once_and_finds_one_that_committed_late(tmp_path):
    store = Store(sqlite_url(tmp_path / "feed.db"))
    engine = _Recording()
    feed = EventFeed(engine, store)
    store.record_event("u", "p1", "view")
    store.record_event("u", "p2", "view")
    assert feed.catch_up() == 2 and engine.applied == ["p1", "p2"]
    assert feed.catch_up() == 0  # nothing new: nothing applied twice
    _insert(store, 4, "p4")  # id 3 is still in another transaction
    assert feed.catch_up() == 1 and set(feed.gaps) == {3}
    _insert(store, 3, "p3")  # ...which commits now
    assert feed.catch_up() == 1 and engine.applied == ["p1", "p2", "p4", "p3"] and not feed.gaps


def test_overlapping_fetches_apply_each_event_once(tmp_path):
    # two requests read the store in threads before either applies (the route applies on the loop's thread)
    store = Store(sqlite_url(tmp_path / "feed.db"))
    engine = _Recording()
    feed = EventFeed(engine, store)
    store.record_event("u", "p1", "view")
    _insert(store, 3, "p3")  # id 2 still in another transaction
    first = feed.fetch()
    _insert(store, 2, "p2")  # commits between the two reads
    second = feed.fetch()
    assert feed.apply(first) == 2 and set(feed.gaps) == {2}
    assert feed.apply(second) == 1  # p2 fills the gap; p1 and p3 are not applied again
    assert engine.applied == ["p1", "p3", "p2"] and not feed.gaps


def test_a_gap_past_its_patience_is_still_asked_for_once(tmp_path):
    store = Store(sqlite_url(tmp_path / "feed.db"))
    engine = _Recording()
    now = [0.0]
    feed = EventFeed(engine, store, clock=lambda: now[0])
    _insert(store, 2, "p2")
    feed.catch_up()
    assert set(feed.gaps) == {1}
    _insert(store, 1, "p1")  # committed late, and nobody asks for picks for a long while
    now[0] += 3600
    assert feed.catch_up() == 1 and engine.applied == ["p2", "p1"]
    _insert(store, 4, "p4")  # a gap (3) that never fills: asked for once after its patience, then dropped
    feed.catch_up()
    now[0] += 3600
    feed.catch_up()
    assert not feed.gaps


def test_an_event_stored_by_one_worker_counts_in_the_other(artifacts, tmp_path):
    store = Store(sqlite_url(tmp_path / "shared.db"))
    key = store.create_api_key("tests")
    newcomer = "fresh-shopper"
    with (
        TestClient(create_app(Engine.load(artifacts), store=store)) as one,
        TestClient(create_app(Engine.load(artifacts), store=store)) as other,
    ):
        before = other.get(f"/v1/users/{newcomer}/recommendations").json()
        product = _a_product(artifacts)
        event = {"user_id": newcomer, "product_id": product, "kind": "bag"}
        assert one.post("/v1/events", json=event, headers={"X-API-Key": key}).status_code == 202
        after = other.get(f"/v1/users/{newcomer}/recommendations").json()
    assert after["path"] != before["path"]


def test_a_worker_follows_a_reload_made_through_another(artifacts, tmp_path):
    store = Store(sqlite_url(tmp_path / "shared.db"))
    key = store.create_api_key("tests")
    retrained = shutil.copytree(artifacts, tmp_path / "retrained")
    # the apps' own followers wait an hour, so only this test's follow() calls act (no race with them)
    settings = with_section(load_settings(), "service", follow_reload_seconds=3600)
    with (
        TestClient(create_app(artifacts, settings, store)) as one,
        TestClient(create_app(artifacts, settings, store)) as other,
    ):
        reloaded = one.post(
            "/v1/admin/reload", params={"artifacts": str(retrained)}, headers={"X-API-Key": key}
        )
        assert reloaded.status_code == 200 and reloaded.json()["artifacts"] == str(retrained)
        catalogue = retrained / "catalogue.parquet"
        catalogue.rename(tmp_path / "aside.parquet")  # the folder does not load for the other worker (yet)
        with pytest.raises(InputError, match="damaged"):
            follow(other.app)
        assert other.get("/healthz").json()["artifacts"] == str(artifacts)  # the old ones keep serving
        (tmp_path / "aside.parquet").rename(catalogue)
        assert follow(other.app) is True and follow(other.app) is False  # once
        assert other.get("/healthz").json()["artifacts"] == str(retrained)
        assert store.served() == (1, str(retrained.resolve()))


def _a_product(artifacts) -> str:
    return pl.read_parquet(artifacts / "catalogue.parquet")["product_id"][0]


def _pinned_clients(base: str, workers: int) -> dict[int, httpx.Client]:
    """A keep-alive client for each worker process (a new connection lands on whichever worker accepts it)."""
    pinned: dict[int, httpx.Client] = {}

    def more():
        client = httpx.Client(base_url=base, timeout=10, limits=httpx.Limits(max_connections=1))
        pid = client.get("/healthz").json()["worker"]
        if pid in pinned:
            client.close()
        else:
            pinned[pid] = client
        return len(pinned) == workers

    until(more, 60, f"a connection to each of {workers} workers")
    return pinned


def test_atelier_serve_with_two_workers_shares_events_metrics_and_reloads(artifacts, tmp_path):
    store_url = sqlite_url(tmp_path / "serve.db")
    key = Store(store_url).create_api_key("tests")
    env = {
        "ATELIER_SERVICE__STORE_URL": store_url,
        "ATELIER_SERVICE__WORKERS": "2",
        "ATELIER_SERVICE__FOLLOW_RELOAD_SECONDS": "0.2",
    }
    with atelier_serve(artifacts, env) as served:
        base, server = served.base, served.process
        (first_pid, first), (second_pid, second) = _pinned_clients(base, 2).items()

        # an event taken by one worker shapes the next picks served by the other
        newcomer = "walk-in"
        first.get(f"/v1/users/{newcomer}/recommendations")  # counted by the first worker
        before = second.get(f"/v1/users/{newcomer}/recommendations").json()["path"]
        product = _a_product(artifacts)
        event = {"user_id": newcomer, "product_id": product, "kind": "bag"}
        assert first.post("/v1/events", json=event, headers={"X-API-Key": key}).status_code == 202
        assert second.get(f"/v1/users/{newcomer}/recommendations").json()["path"] != before

        # one scrape counts the requests of both workers
        metrics = second.get("/metrics").text
        line = next(
            x
            for x in metrics.splitlines()
            if x.startswith("atelier_requests_total") and "/recommendations" in x and 'status="200"' in x
        )
        assert float(line.rsplit(" ", 1)[1]) == 3  # one by the first worker, two by the second

        # a reload through one worker is followed by the other
        retrained = shutil.copytree(artifacts, tmp_path / "retrained")
        reload = first.post(
            "/v1/admin/reload", params={"artifacts": str(retrained)}, headers={"X-API-Key": key}
        )
        assert reload.status_code == 200
        until(
            lambda: second.get("/healthz").json()["artifacts"] == str(retrained),
            60,
            "the other worker did not follow the reload",
        )
        first.close()
        second.close()

        # SIGHUP: both workers are replaced, one at a time, while requests keep being answered
        failures: list[str] = []
        stop = threading.Event()

        def keep_asking():  # a new connection each time: a keep-alive one may be closed between requests
            while not stop.is_set():
                try:
                    status = httpx.get(f"{base}/v1/products/{product}/together", timeout=30).status_code
                    if status != 200:
                        failures.append(str(status))
                except httpx.TransportError as error:
                    failures.append(repr(error))

        asker = threading.Thread(target=keep_asking)
        asker.start()
        server.send_signal(signal.SIGHUP)

        def replaced():  # uvicorn brings each new worker into service before it retires the old one
            workers = worker_pids(server)
            return len(workers) == 2 and not workers & {first_pid, second_pid}

        until(replaced, 180, "the workers were not replaced after SIGHUP")
        stop.set()
        asker.join(timeout=60)
        health = httpx.get(f"{base}/healthz").json()
        assert health["worker"] not in {first_pid, second_pid}
        assert health["artifacts"] == str(retrained)  # the store's newest
        assert failures == []
    assert served.process.returncode == 0, served.output


async def _ok(scope, receive, send):
    """The smallest ASGI app: 200 "ok" to every request."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


def test_a_stopping_worker_answers_a_request_on_a_connection_it_had_just_accepted(monkeypatch):
    # uvicorn's own protocol closes such a connection unanswered (its issue #2757): the request is lost
    import uvicorn

    monkeypatch.setattr(serving, "SHUTDOWN_GRACE_SECONDS", 3.0)  # room for a slow machine
    config = uvicorn.Config(_ok, http=serving.DrainingHttpProtocol, log_level="warning")
    with (
        loopback_listener() as listener,
        uvicorn_in_thread(config, sockets=[listener]) as server,
        socket.create_connection(listener.getsockname(), timeout=10) as late,
        socket.create_connection(listener.getsockname(), timeout=10) as idle,
    ):
        until(lambda: len(server.server_state.connections) == 2, 10, "the connections were not accepted")
        server.should_exit = True  # what SIGTERM does
        until(
            lambda: all(c.draining for c in list(server.server_state.connections)),
            10,
            "the shutdown did not begin",
        )
        late.sendall(b"GET / HTTP/1.1\r\nHost: shop\r\n\r\n")
        answer = b"".join(iter(lambda: late.recv(4096), b""))  # up to the close
        assert answer.startswith(b"HTTP/1.1 200") and b"connection: close" in answer
        assert answer.endswith(b"ok")
        assert idle.recv(4096) == b""  # a connection that never asks is closed after the grace


def test_atelier_serve_stops_with_one_clear_line_on_damaged_artefacts(artifacts, tmp_path):
    damaged = shutil.copytree(artifacts, tmp_path / "damaged")
    (damaged / "catalogue.parquet").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "atelier.cli", "serve", str(damaged), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"ATELIER_SERVICE__STORE_URL": sqlite_url(tmp_path / "serve.db")},
    )
    assert done.returncode == 2
    assert "incomplete or damaged artefacts" in done.stderr and "Traceback" not in done.stderr + done.stdout
