"""The REST API of DESIGN.md (``/v1/...``, OpenAPI at ``/openapi.json``): each route asks the engine and shapes
its answer; no route holds logic of its own.

Errors: an unknown id answers 404 naming it, a bad parameter 422, never a 500 for bad input (the engine's
domain errors carry their HTTP status).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from atelier import __version__, web
from atelier.api import accounts, serving
from atelier.api.metrics import Metrics
from atelier.api.schemas import (
    Health,
    PersonalQuery,
    Product,
    ProductPicks,
    SimilarQuery,
    TogetherQuery,
    UserPicks,
    source_counts,
    wire,
)
from atelier.api.serving import EventFeed, Fetched, Served
from atelier.config import Settings, load_settings
from atelier.engine import Engine
from atelier.errors import AtelierError
from atelier.recommendation import MAX_N
from atelier.store.sql import Store

N = Annotated[int, Query(ge=1, le=MAX_N, description="how many picks")]
READ = [Depends(accounts.read_access)]  # open, or keyed with service.read_requires_key


def create_app(
    artifacts: str | Path | Engine,
    settings: Settings | None = None,
    store: Store | None = None,
    generation: int | None = None,
) -> FastAPI:
    """The API over an artefact folder (loaded here) or an engine already loaded, with the store of
    ``settings.service.store_url`` (or ``store``); the stored events are applied to the engine. ``generation``:
    which of the store's served folders this is (default: the newest), so newer ones are followed."""
    settings = settings or load_settings()
    store = store or Store(settings.service.store_url)
    if generation is None:  # read before loading: a reload recorded meanwhile is followed
        generation = (store.served() or (0, ""))[0]
    app = FastAPI(
        title="Atelier",
        version=__version__,
        description="Top Picks Together, Similar Styles and Personalized Picks for a fashion shop.",
        lifespan=_following(settings.service.follow_reload_seconds),
    )
    app.state.swapping = threading.Lock()  # one load and swap at a time (a reload, a follow)
    serving.serve(app, Served.load(artifacts, store, generation))
    app.state.store = store
    app.state.settings = settings
    app.state.rate_limiter = accounts.RateLimiter(settings.service.rate_limit_per_minute)
    app.state.session_secret = store.secret("session")
    metrics = app.state.metrics = Metrics()
    metrics.install(app)
    app.include_router(accounts.router)

    @app.exception_handler(AtelierError)
    async def domain_error(_: Request, error: AtelierError) -> JSONResponse:
        headers = (
            {"Retry-After": str(error.retry_after)} if isinstance(error, accounts.TooManyRequests) else None
        )
        return JSONResponse(status_code=error.http_status, content={"detail": str(error)}, headers=headers)

    def answered(widget: str, answer: tuple[bytes, tuple[tuple[str, int], ...]]) -> Response:
        """A cached product-widget answer sent as it is, its picks counted by source."""
        body, counts = answer
        metrics.count_sources(widget, counts)
        return Response(body, media_type="application/json")

    @app.get("/healthz", response_model=Health, tags=["service"])
    async def healthz() -> Health:
        """Live and ready: the artefacts are loaded and answer."""
        return _health(app.state.served)

    @app.get("/metrics", tags=["service"], response_class=Response)
    async def prometheus() -> Response:
        """Prometheus text: requests by route and status, latencies, picks by widget and source."""
        return metrics.exposition()

    @app.post("/v1/admin/reload", response_model=Health, tags=["service"])
    def reload(
        _: Annotated[str, Depends(accounts.api_key)],
        artifacts: Annotated[
            str | None, Query(max_length=1000, description="default: the folder served")
        ] = None,
    ) -> Health:
        """Load an artefact folder (API key) and swap it in: requests in flight finish on the old one. The
        folder is recorded in the store, and the service's other workers follow within
        ``service.follow_reload_seconds``."""
        folder = Path(artifacts) if artifacts else app.state.served.engine.folder
        return _health(serving.reload(app, folder))  # a bad folder raises: the old one keeps serving

    @app.get("/v1/products", response_model=list[Product], dependencies=READ, tags=["catalogue"])
    async def search_products(
        q: Annotated[str, Query(min_length=1, max_length=200)], n: N = 10
    ) -> list[dict]:
        """Title search (any case; titles that start with ``q`` first): the storefront's suggestions."""
        return app.state.served.engine.search(q, n)

    @app.get("/v1/products/{product_id}", response_model=Product, dependencies=READ, tags=["catalogue"])
    async def product(product_id: str) -> dict:
        """One product's card."""
        return app.state.served.engine.product(product_id)

    @app.get(
        "/v1/products/{product_id}/together", response_model=ProductPicks, dependencies=READ, tags=["widgets"]
    )
    async def together(product_id: str, query: Annotated[TogetherQuery, Query()]) -> ProductPicks:
        """Top Picks Together: what is bought with the product, each pick with its rule figures and reason."""
        return answered("together", app.state.served.answers.together(product_id, query))

    @app.get(
        "/v1/products/{product_id}/similar", response_model=ProductPicks, dependencies=READ, tags=["widgets"]
    )
    async def similar(product_id: str, query: Annotated[SimilarQuery, Query()]) -> ProductPicks:
        """Similar Styles: look-alikes by the chosen encoder (default: the first trained)."""
        return answered("similar", app.state.served.answers.similar(product_id, query))

    def store_reads(feed: EventFeed, user_id: str) -> tuple[dict, Fetched]:
        """A shopper who signed up here is known by their birth date and region until they have events; and
        the events stored since the feed's last read."""
        known = accounts.signed_up_demographics(
            app.state.store, user_id, settings.ingest.age_groups, datetime.now(UTC).date()
        )
        return known, feed.fetch()

    @app.get(
        "/v1/users/{user_id}/recommendations", response_model=UserPicks, dependencies=READ, tags=["widgets"]
    )
    async def recommendations(user_id: str, query: Annotated[PersonalQuery, Query()]) -> UserPicks:
        """Personalized Picks: the router chooses the source by who the shopper is (an unknown id is a new
        shopper, not an error) and says which path it took."""
        served = app.state.served
        # Both store reads in one worker thread (the loop keeps answering); the events any worker stored are
        # then applied here, on the loop's thread, where the engine is read.
        known, fetched = await run_in_threadpool(store_reads, served.feed, user_id)
        served.feed.apply(fetched)
        given = {"age_group": query.age_group, "region": query.region}
        demographics = known | {k: v for k, v in given.items() if v is not None}
        path, picks = served.engine.personal(
            user_id,
            query.n,
            query.method,
            demographics,
            not query.keep_bought,
            query.in_stock,
            query.department,
        )
        metrics.count_sources("personal", source_counts(picks))
        return UserPicks(user_id=user_id, path=path, recommendations=wire(picks))

    web.install(app)
    return app


def _following(every: float):
    """The app's lifespan: while it serves, follow the reloads other workers record in the store."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        follower = asyncio.create_task(serving.follow_reloads(app, every))
        yield
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower

    return lifespan


def _health(served: Served) -> Health:
    return Health(
        status="ok",
        version=__version__,
        artifacts=str(served.engine.folder),
        widgets=sorted(served.engine.widgets),
        generation=served.generation,
        worker=os.getpid(),
    )
