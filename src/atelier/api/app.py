"""The REST API of DESIGN.md (``/v1/...``, OpenAPI at ``/openapi.json``): each route asks the engine and shapes
its answer; no route holds logic of its own.

Errors: an unknown id answers 404 naming it, a bad parameter 422, never a 500 for bad input (the engine's
domain errors carry their HTTP status).
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from atelier import __version__, web
from atelier.api import accounts
from atelier.api.metrics import Metrics
from atelier.config import Settings, load_settings
from atelier.engine import Engine
from atelier.errors import AtelierError
from atelier.recommendation import MAX_N, Recommendation
from atelier.store.sql import Store

log = logging.getLogger(__name__)

N = Annotated[int, Query(ge=1, le=MAX_N, description="how many picks")]
READ = [Depends(accounts.read_access)]  # open, or keyed with service.read_requires_key


# A pick is the engine's own Recommendation (a dataclass pydantic reads): one definition of its fields.
class ProductPicks(BaseModel):
    product_id: str
    recommendations: list[Recommendation]


class UserPicks(BaseModel):
    user_id: str
    path: str
    recommendations: list[Recommendation]


class Product(BaseModel):
    product_id: str
    title: str | None = None
    brand: str | None = None
    department: str | None = None
    color: str | None = None
    target_audience: str | None = None
    price: float | None = None
    currency: str | None = None
    is_available: bool | None = None
    image_urls: list[str] | None = None
    has_picture: bool = False


class Health(BaseModel):
    status: str
    version: str
    artifacts: str
    widgets: list[str]


def create_app(
    artifacts: str | Path | Engine, settings: Settings | None = None, store: Store | None = None
) -> FastAPI:
    """The API over an artefact folder (loaded once, here) or an engine already loaded, with the store of
    ``settings.service.store_url`` (or ``store``); the stored events are replayed into the engine."""
    settings = settings or load_settings()
    engine = artifacts if isinstance(artifacts, Engine) else Engine.load(artifacts)
    store = store or Store(settings.service.store_url)
    app = FastAPI(
        title="Atelier",
        version=__version__,
        description="Top Picks Together, Similar Styles and Personalized Picks for a fashion shop.",
    )
    app.state.engine = engine
    app.state.answers = Answers(engine)
    app.state.store = store
    app.state.settings = settings
    app.state.rate_limiter = accounts.RateLimiter(settings.service.rate_limit_per_minute)
    app.state.session_secret = store.secret("session")
    metrics = app.state.metrics = Metrics()
    metrics.install(app)
    _replay(engine, store)
    app.include_router(accounts.router)

    @app.exception_handler(AtelierError)
    async def domain_error(_: Request, error: AtelierError) -> JSONResponse:
        headers = (
            {"Retry-After": str(error.retry_after)} if isinstance(error, accounts.TooManyRequests) else None
        )
        return JSONResponse(status_code=error.http_status, content={"detail": str(error)}, headers=headers)

    @app.get("/healthz", response_model=Health, tags=["service"])
    async def healthz() -> Health:
        """Live and ready: the artefacts are loaded and answer."""
        return _health(app.state.engine)

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
        """Load an artefact folder (API key) and swap it in: requests in flight finish on the old one."""
        folder = Path(artifacts) if artifacts else app.state.engine.folder
        fresh = Engine.load(folder)  # a bad folder raises here, and the old engine keeps serving
        _replay(fresh, app.state.store)
        app.state.answers = Answers(fresh)
        app.state.engine = fresh  # reference assignments: each request reads them once
        log.info("now serving %s", folder)
        return _health(fresh)

    @app.get("/v1/products", response_model=list[Product], dependencies=READ, tags=["catalogue"])
    async def search_products(
        q: Annotated[str, Query(min_length=1, max_length=200)], n: N = 10
    ) -> list[dict]:
        """Title search (any case; titles that start with ``q`` first): the storefront's suggestions."""
        return app.state.engine.search(q, n)

    @app.get("/v1/products/{product_id}", response_model=Product, dependencies=READ, tags=["catalogue"])
    async def product(product_id: str) -> dict:
        """One product's card."""
        return app.state.engine.product(product_id)

    @app.get(
        "/v1/products/{product_id}/together", response_model=ProductPicks, dependencies=READ, tags=["widgets"]
    )
    async def together(
        product_id: str, n: N = 10, in_stock: bool = False, exclude_department: bool = False
    ) -> ProductPicks:
        """Top Picks Together: what is bought with the product, each pick with its rule figures and reason."""
        body, sources = app.state.answers.together(product_id, n, in_stock, exclude_department)
        metrics.count_sources("together", sources)
        return Response(body, media_type="application/json")

    @app.get(
        "/v1/products/{product_id}/similar", response_model=ProductPicks, dependencies=READ, tags=["widgets"]
    )
    async def similar(
        product_id: str,
        n: N = 10,
        model: Annotated[str | None, Query(max_length=100, description="a trained encoder")] = None,
        in_stock: bool = False,
        same_audience: bool = False,
        price_min: Annotated[float | None, Query(ge=0)] = None,
        price_max: Annotated[float | None, Query(ge=0)] = None,
    ) -> ProductPicks:
        """Similar Styles: look-alikes by the chosen encoder (default: the first trained)."""
        body, sources = app.state.answers.similar(
            product_id, n, model, in_stock, same_audience, price_min, price_max
        )
        metrics.count_sources("similar", sources)
        return Response(body, media_type="application/json")

    @app.get(
        "/v1/users/{user_id}/recommendations", response_model=UserPicks, dependencies=READ, tags=["widgets"]
    )
    async def recommendations(
        user_id: str,
        n: N = 10,
        method: Annotated[str | None, Query(max_length=100, description="for a known shopper")] = None,
        age_group: Annotated[str | None, Query(max_length=100)] = None,
        region: Annotated[str | None, Query(max_length=200)] = None,
        department: Annotated[str | None, Query(max_length=200)] = None,
        in_stock: bool = False,
        keep_bought: bool = False,
    ) -> UserPicks:
        """Personalized Picks: the router chooses the source by who the shopper is (an unknown id is a new
        shopper, not an error) and says which path it took."""
        # a shopper who signed up here is known by their birth date and region until they have events
        known = accounts.signed_up_demographics(
            app.state.store, user_id, settings.ingest.age_groups, datetime.now(UTC).date()
        )
        demographics = known | {
            k: v for k, v in (("age_group", age_group), ("region", region)) if v is not None
        }
        path, picks = app.state.engine.personal(
            user_id, n, method, demographics, not keep_bought, in_stock, department
        )
        metrics.count_sources("personal", [p.source for p in picks])
        return UserPicks(user_id=user_id, path=path, recommendations=_picks(picks))

    web.install(app)
    return app


ANSWER_CACHE = 20_000  # finished answers kept per product widget (10 picks are about 2 kB of JSON)


class Answers:
    """The product widgets' finished JSON answers, cached: the same question gets the same answer until other
    artefacts are loaded (a reload makes a new ``Answers``). Personalized Picks are not cached: live events
    change them."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.together = functools.lru_cache(maxsize=ANSWER_CACHE)(self._together)
        self.similar = functools.lru_cache(maxsize=ANSWER_CACHE)(self._similar)

    def _together(self, product_id: str, *args) -> tuple[bytes, tuple[str, ...]]:
        return _answer(product_id, self.engine.together(product_id, *args))

    def _similar(self, product_id: str, *args) -> tuple[bytes, tuple[str, ...]]:
        return _answer(product_id, self.engine.similar(product_id, *args))


def _answer(product_id: str, picks: list[Recommendation]) -> tuple[bytes, tuple[str, ...]]:
    """(the JSON body, the picks' sources for the metrics)."""
    body = ProductPicks(product_id=product_id, recommendations=_picks(picks)).model_dump_json().encode()
    return body, tuple(p.source for p in picks)


def _health(engine: Engine) -> Health:
    return Health(
        status="ok", version=__version__, artifacts=str(engine.folder), widgets=sorted(engine.widgets)
    )


def _replay(engine: Engine, store: Store) -> None:
    """Apply the stored events to the engine: what was acknowledged before a restart still counts."""
    if "personal" not in engine.widgets:
        return
    applied = skipped = 0
    for event in store.events():
        try:
            engine.log_interaction(event.user_id, event.product_id, event.kind)
            applied += 1
        except AtelierError:  # a product gone from the retrained catalogue
            skipped += 1
    if applied or skipped:
        log.info("replayed %s stored events (%s name products these artefacts do not hold)", applied, skipped)


def _picks(picks: list[Recommendation]) -> list[Recommendation]:
    """The picks with their figures rounded for the wire."""
    return [Recommendation(**p.as_dict()) for p in picks]
