"""What one service worker serves, and how it stays level with the others.

``atelier serve --workers N`` runs N processes (uvicorn's supervisor), each with its own engine. They share only
the store, so the store is the one truth every worker follows:

- **events**: a worker stores an event and answers 202; any worker applies the events it has not seen before it
  answers Personalized Picks (``EventFeed.fetch`` in a thread, then ``EventFeed.apply`` on the event loop), so
  a shopper's next view counts their event whichever worker took it;
- **artefacts**: a reload records the new folder in the store; the other workers see it within
  ``service.follow_reload_seconds`` and load it while they keep answering from the old one (``follow_reloads``).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from atelier.api.schemas import SimilarQuery, TogetherQuery, product_answer
from atelier.engine import Engine
from atelier.errors import AtelierError
from atelier.store.sql import Event, Store

log = logging.getLogger(__name__)

ARTIFACTS_ENV = "ATELIER_SERVE_ARTIFACTS"  # the folder ``atelier serve`` was given, for its worker processes
ANSWER_CACHE = 20_000  # finished answers kept per product widget (10 picks are about 2 kB of JSON)
GAP_PATIENCE_SECONDS = 30.0  # how long an event id skipped over is looked for again
MAX_GAPS = 1_000
# how long a stopping worker waits for the request of a connection it has just accepted
SHUTDOWN_GRACE_SECONDS = 1.0


class Fetched(NamedTuple):
    """What :meth:`EventFeed.fetch` read: the events, the gaps it asked for (id -> first missed), and when."""

    events: list[Event]
    asked: dict[int, float]
    at: float


class EventFeed:
    """Keeps one engine level with the store's event log, whichever worker stored the events.

    Event ids are given in insertion order, but on PostgreSQL two transactions can commit out of order: an id
    skipped over is asked for again until it appears, or until it was asked for once more after
    ``GAP_PATIENCE_SECONDS`` (an insert that was rolled back, such as a retried event, leaves a gap for ever).

    A served feed reads the store in a worker thread (:meth:`fetch`, which only reads the feed's position) and
    applies events on the event loop's thread only (:meth:`apply`, from the Personalized Picks route), so
    applying events never runs beside a read of the same engine; a fresh feed is caught up in its loading
    thread before it is served."""

    def __init__(self, engine: Engine, store: Store, clock: Callable[[], float] = time.monotonic):
        self.engine = engine
        self.store = store
        self.clock = clock  # when a gap was first missed is measured with it
        self.last_id = 0
        self.gaps: dict[int, float] = {}  # id skipped over -> when it was first missed
        self.skipped = 0  # events naming a product these artefacts do not hold

    def catch_up(self) -> int:
        """Apply the events stored since the last call (all of them the first time); returns how many."""
        return self.apply(self.fetch())

    def fetch(self) -> Fetched:
        """The events stored since the last applied one, and those skipped over (a store query: the serving route
        runs it in a thread, then applies the result on the loop's thread)."""
        if "personal" not in self.engine.widgets:
            return Fetched([], {}, 0.0)
        asked = dict(self.gaps)  # every gap is asked for at least once after its patience ran out
        return Fetched(list(self.store.events(self.last_id, asked)), asked, self.clock())

    def apply(self, fetched: Fetched) -> int:
        """Apply what :meth:`fetch` returned; returns how many events were applied. Two fetches may overlap: an
        event already applied (neither new nor a gap any more) is skipped, so none counts twice."""
        events, asked, now = fetched
        applied = 0
        for event in events:
            if event.event_id > self.last_id:
                start = max(self.last_id + 1, event.event_id - MAX_GAPS)
                self.gaps.update(dict.fromkeys(range(start, event.event_id), now))
                self.last_id = event.event_id
            elif self.gaps.pop(event.event_id, None) is None:
                continue
            try:
                self.engine.log_interaction(event.user_id, event.product_id, event.kind)
                applied += 1
            except AtelierError:  # a product gone from the retrained catalogue
                self.skipped += 1
        for gap, missed_at in asked.items():
            if now - missed_at >= GAP_PATIENCE_SECONDS:
                self.gaps.pop(gap, None)
        if len(self.gaps) > MAX_GAPS:
            self.gaps = dict(sorted(self.gaps.items())[-MAX_GAPS:])
        return applied


class Answers:
    """The product widgets' finished JSON answers, cached by product and query: the same question gets the same
    answer until other artefacts are loaded (they come with new ``Answers``). Personalized Picks are not
    cached: live events change them."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.together = functools.lru_cache(maxsize=ANSWER_CACHE)(self._together)
        self.similar = functools.lru_cache(maxsize=ANSWER_CACHE)(self._similar)

    def _together(self, product_id: str, q: TogetherQuery) -> tuple[bytes, tuple[tuple[str, int], ...]]:
        picks = self.engine.together(product_id, q.n, q.in_stock, q.exclude_department)
        return product_answer(product_id, picks)

    def _similar(self, product_id: str, q: SimilarQuery) -> tuple[bytes, tuple[tuple[str, int], ...]]:
        picks = self.engine.similar(
            product_id, q.n, q.model, q.in_stock, q.same_audience, q.price_min, q.price_max
        )
        return product_answer(product_id, picks)


@dataclass(frozen=True)
class Served:
    """One worker's artefacts in service: the engine, its cached answers, its place in the event log, and the
    store's generation it follows. Swapped as one reference, so a request reads all four from the same load."""

    engine: Engine
    answers: Answers
    feed: EventFeed
    generation: int

    @classmethod
    def load(cls, artifacts: str | Path | Engine, store: Store, generation: int) -> Served:
        """Load ``artifacts`` (a folder, or an engine already loaded) and apply every stored event to it."""
        engine = artifacts if isinstance(artifacts, Engine) else Engine.load(artifacts)
        feed = EventFeed(engine, store)
        applied = feed.catch_up()
        if applied or feed.skipped:
            log.info(
                "applied %s stored events (%s name products not in %s)", applied, feed.skipped, engine.folder
            )
        return cls(engine, Answers(engine), feed, generation)


def serve(app: FastAPI, served: Served) -> None:
    """Put ``served`` in service: one reference assignment, so each request reads one load's engine, answers
    and feed. Then the garbage collector may free the old artefacts, and stops walking the new ones."""
    app.state.served = served
    settle()


def settle() -> None:
    """Move the artefacts served out of the garbage collector's sight (they live as long as they are served,
    and a full collection walking their few hundred thousand objects stalls every request for about 0.2 s),
    after letting it free the ones served before (frozen, their reference cycles would never be freed)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def reload(app: FastAPI, folder: Path) -> Served:
    """Load ``folder``, record it in the store as the artefacts to serve, and serve it (a bad folder raises
    before anything changes). The other workers follow with ``follow``."""
    with app.state.swapping:
        engine = Engine.load(folder)
        return _swap(app, engine, app.state.store.record_served(folder.resolve()))


def follow(app: FastAPI) -> bool:
    """Load the artefacts another worker was told to serve, if the store names newer ones; True if swapped.
    A folder that does not load raises, and the old artefacts keep serving."""
    with app.state.swapping:  # one load at a time, and never an older one over a newer one
        newest = app.state.store.served()
        if newest is None or newest[0] <= app.state.served.generation:
            return False
        generation, folder = newest
        _swap(app, folder, generation)
    return True


def _swap(app: FastAPI, artifacts: Path | Engine, generation: int) -> Served:
    """Serve ``artifacts`` as the store's ``generation`` (the caller holds ``app.state.swapping``)."""
    fresh = Served.load(artifacts, app.state.store, generation)
    serve(app, fresh)
    log.info("now serving %s (generation %s)", fresh.engine.folder, generation)
    return fresh


async def follow_reloads(app: FastAPI, every: float) -> None:
    """Every ``every`` seconds, follow a reload made through another worker (loading in a thread, so this
    worker keeps answering from its old artefacts meanwhile). A failure is logged and tried again, waiting
    twice as long each time (up to a minute)."""
    wait = every
    while True:
        await asyncio.sleep(wait)
        try:
            await asyncio.to_thread(follow, app)
            wait = every
        except Exception as error:  # a folder that does not load (yet), the store out of reach
            wait = min(wait * 2, 60.0)
            log.error("cannot follow the newest artefacts (%s): trying again in %.0f s", error, wait)


class DrainingHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, except that a stopping worker (SIGHUP's rolling restart, SIGTERM) gives a connection
    with no request in progress ``SHUTDOWN_GRACE_SECONDS`` to deliver one before closing it.

    uvicorn closes such a connection at once, but it may have been accepted a moment before, with its request still
    unread: closing it then resets the shopper's request (uvicorn issue #2757). A request that arrives in the grace
    is answered with ``Connection: close``. (A connection accepted in the loop turn just before the shutdown is
    not yet known to the server, as with uvicorn alone: it is answered normally, and its worker stops once the
    keep-alive timeout closes it.)"""

    draining = False

    def shutdown(self) -> None:
        """Called by the server when the worker stops: an answer in progress finishes, an idle connection waits."""
        if self.cycle is not None and not self.cycle.response_complete:
            super().shutdown()  # the answer is sent, then the connection is closed
            return
        self.draining = True
        self.loop.call_later(SHUTDOWN_GRACE_SECONDS, super().shutdown)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.draining and self.cycle is not None:  # None after a refused upgrade
            self.cycle.keep_alive = False


def check_artifacts(folder: str | Path) -> None:
    """Load ``folder`` once and drop it: the engine's clear error if it does not load (``atelier serve`` runs
    this in a short-lived process, so its supervisor does not keep a copy of the artefacts)."""
    Engine.load(folder)


def worker_app() -> FastAPI:
    """The app of one ``atelier serve`` worker process (uvicorn's factory): the artefacts the store names as
    served (the newest reload), else, or if those do not load, the folder ``atelier serve`` was given."""
    from uvicorn.config import STARTUP_FAILURE

    from atelier.api.app import create_app
    from atelier.config import load_settings

    given = os.environ[ARTIFACTS_ENV]
    try:
        settings = load_settings()
        store = Store(settings.service.store_url)
        newest = store.served()
        if newest is None:
            return create_app(given, settings, store, generation=0)
        try:
            return create_app(newest[1], settings, store, generation=newest[0])
        except AtelierError as error:
            if newest[1] == given:
                raise
            # serve what `atelier serve` was given; the follower tries the newest again, and says so
            log.error("cannot load the newest artefacts %s (%s): serving %s", newest[1], error, given)
            return create_app(given, settings, store, generation=0)
    except AtelierError as error:  # one clear line, and uvicorn's supervisor stops the service
        log.error("%s", error)
        sys.exit(STARTUP_FAILURE)
