"""What one service worker serves, and how it stays level with the others.

``atelier serve --workers N`` runs N processes (uvicorn's supervisor), each with its own engine. They share only
the store, so the store is the one truth every worker follows:

- **events**: a worker stores an event and answers 202; any worker applies the events it has not seen before it
  answers Personalized Picks (``EventFeed.catch_up``), so a shopper's next view counts their event whichever
  worker took it;
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
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from fastapi import FastAPI

from atelier.api.schemas import SimilarQuery, TogetherQuery, product_answer
from atelier.engine import Engine
from atelier.errors import AtelierError
from atelier.store.sql import Store

log = logging.getLogger(__name__)

ARTIFACTS_ENV = "ATELIER_SERVE_ARTIFACTS"  # the folder ``atelier serve`` was given, for its worker processes
ANSWER_CACHE = 20_000  # finished answers kept per product widget (10 picks are about 2 kB of JSON)
GAP_PATIENCE_SECONDS = 30.0  # how long an event id skipped over is looked for again
MAX_GAPS = 1_000


class EventFeed:
    """Keeps one engine level with the store's event log, whichever worker stored the events.

    Event ids are given in insertion order, but on PostgreSQL two transactions can commit out of order: an id
    skipped over is asked for again until it appears or ``GAP_PATIENCE_SECONDS`` have passed (an insert that
    was rolled back, such as a retried event, leaves a gap for ever)."""

    def __init__(self, engine: Engine, store: Store):
        self.engine = engine
        self.store = store
        self.last_id = 0
        self.gaps: dict[int, float] = {}  # id skipped over -> when it was first missed
        self.skipped = 0  # events naming a product these artefacts do not hold
        self._lock = threading.Lock()

    def catch_up(self) -> int:
        """Apply the events stored since the last call (all of them the first time); returns how many."""
        if "personal" not in self.engine.widgets:
            return 0
        with self._lock:
            now = time.monotonic()
            self.gaps = {i: t for i, t in self.gaps.items() if now - t < GAP_PATIENCE_SECONDS}
            applied = 0
            for event in self.store.events(self.last_id, self.gaps):
                if event.event_id > self.last_id:
                    start = max(self.last_id + 1, event.event_id - MAX_GAPS)
                    self.gaps.update(dict.fromkeys(range(start, event.event_id), now))
                    self.last_id = event.event_id
                else:
                    self.gaps.pop(event.event_id, None)
                try:
                    self.engine.log_interaction(event.user_id, event.product_id, event.kind)
                    applied += 1
                except AtelierError:  # a product gone from the retrained catalogue
                    self.skipped += 1
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

    def _together(self, product_id: str, q: TogetherQuery) -> tuple[bytes, tuple[str, ...]]:
        picks = self.engine.together(product_id, q.n, q.in_stock, q.exclude_department)
        return product_answer(product_id, picks)

    def _similar(self, product_id: str, q: SimilarQuery) -> tuple[bytes, tuple[str, ...]]:
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
        _settle()
        return cls(engine, Answers(engine), feed, generation)


def _settle() -> None:
    """Move the loaded artefacts out of the garbage collector's sight: they live as long as they are served, and
    a full collection walking their few hundred thousand objects stalls every request for about 0.2 s."""
    gc.collect()
    gc.freeze()


def follow(app: FastAPI) -> bool:
    """Load the artefacts another worker was told to serve, if the store names newer ones; True if swapped."""
    newest = app.state.store.served()
    current: Served = app.state.served
    if newest is None or newest[0] <= current.generation:
        return False
    generation, folder = newest
    try:
        app.state.served = Served.load(folder, app.state.store, generation)
    except AtelierError as error:  # keep serving the old ones; do not try this generation again
        log.error(
            "cannot follow the reload to %s (%s): still serving %s", folder, error, current.engine.folder
        )
        app.state.served = replace(current, generation=generation)
        return False
    log.info("now serving %s (generation %s)", folder, generation)
    return True


async def follow_reloads(app: FastAPI, every: float) -> None:
    """Every ``every`` seconds, follow a reload made through another worker (loading in a thread, so this
    worker keeps answering from its old artefacts meanwhile)."""
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(follow, app)
        except Exception:  # the store unreachable for a moment: try again next time
            log.exception("checking the store for a reload failed")


def worker_app() -> FastAPI:
    """The app of one ``atelier serve`` worker process (uvicorn's factory): the artefacts the store names as
    served (the newest reload), else the folder ``atelier serve`` was given."""
    from uvicorn.config import STARTUP_FAILURE

    from atelier.api.app import create_app
    from atelier.config import load_settings

    try:
        settings = load_settings()
        store = Store(settings.service.store_url)
        newest = store.served()
        return create_app(newest[1] if newest else os.environ[ARTIFACTS_ENV], settings, store)
    except AtelierError as error:  # one clear line, and uvicorn's supervisor stops the service
        log.error("%s", error)
        sys.exit(STARTUP_FAILURE)
