"""The storefront page at ``/`` and the few routes only it uses; the page reads everything else from ``/v1``.

* ``GET /`` — the shop page (Jinja2, server-rendered; a little vanilla JavaScript in ``static/shop.js`` calls the
  API for search, Top Picks Together, Similar Styles, accounts and Personalized Picks).
* ``GET /images/{product_id}`` — a product's picture: only the file the catalogue's ``image_path`` names (never
  a path a client gives), 404 when it has none.
* ``POST /shop/events`` — the page's heart and bag buttons. The browser holds no API key: the event is the
  logged-in shopper's (session cookie), or, for shop staff looking at a training shopper, that shopper's, when
  ``user_id`` is one of the most active training shoppers the page lists (no one else can be written for
  without a session). JSON only, from this origin only, so a cross-site form or script cannot post it.

None of these are part of the public API: they stay out of the OpenAPI schema.
"""

from __future__ import annotations

import functools
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import polars as pl
from fastapi import APIRouter, Depends, FastAPI, Request, status
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field

from atelier import __version__
from atelier.api import accounts
from atelier.engine import Engine
from atelier.errors import AtelierError, NotFoundError, UnauthorizedError

WEB = Path(__file__).resolve().parent
STAFF_SHOPPERS = 50  # the most active training shoppers the staff list offers
TRENDING = 10  # cards shown before anything is searched
MAX_PLACES = 300  # cities / regions suggested in the sign-up form
#: what the page's buttons may record (a click on a similar item is the API's business, not the page's)
ShopKind = Literal["view", "wishlist", "bag", "purchase"]
CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£"}
#: the page loads nothing from elsewhere and cannot be framed
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)

templates = Jinja2Templates(directory=WEB / "templates")
router = APIRouter(include_in_schema=False)


class UnsupportedMediaType(AtelierError):
    http_status = 415


class Forbidden(AtelierError):
    http_status = 403


class ShopEvent(BaseModel):
    """What a heart or bag button sends."""

    model_config = ConfigDict(extra="forbid")

    product_id: str = Field(min_length=1, max_length=128)
    kind: ShopKind
    user_id: str | None = Field(None, min_length=1, max_length=64, description="staff: a listed shopper")


@dataclass(frozen=True)
class Audience:
    """What the page offers about a loaded engine's training shoppers and catalogue: the staff list, places for
    the sign-up form, and the cards shown before anything is searched."""

    shoppers: list[dict] = field(default_factory=list)  # user_id, events, label
    regions: list[str] = field(default_factory=list)
    cities: list[str] = field(default_factory=list)
    trending: list[dict] = field(default_factory=list)

    @functools.cached_property
    def ids(self) -> frozenset[str]:
        """The staff list's user ids (checked on every staff event)."""
        return frozenset(s["user_id"] for s in self.shoppers)


_audiences: weakref.WeakKeyDictionary[Engine, Audience] = weakref.WeakKeyDictionary()
_audiences_lock = threading.Lock()


def install(app: FastAPI) -> None:
    """Serve the storefront from ``app``: the page, its static files, pictures and events."""
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")
    app.include_router(router)


def audience(engine: Engine) -> Audience:
    """The training shoppers of ``engine``, most active first, and the trending cards (worked out once per loaded
    engine, on the first page or staff event)."""
    with _audiences_lock:
        found = _audiences.get(engine)
        if found is None:
            found = _audiences[engine] = _audience(engine)
    return found


def _audience(engine: Engine) -> Audience:
    users = engine.shoppers()
    shoppers = [
        {
            "user_id": row["user_id"],
            "events": row["events"],
            "label": " · ".join(
                str(v)
                for v in (
                    row["user_id"],
                    row.get("age_group"),
                    row.get("city") or row.get("region"),
                    f"{row['events']} events",
                )
                if v
            ),
        }
        for row in users.filter(pl.col("events") > 0).head(STAFF_SHOPPERS).iter_rows(named=True)
    ]

    def places(column: str) -> list[str]:
        if column not in users.columns:
            return []
        return sorted(users[column].drop_nulls().unique().to_list())[:MAX_PLACES]

    return Audience(shoppers, places("region"), places("city"), _trending(engine))


def price_text(price: float | None, currency: str | None) -> str:
    """``$18.00``, ``SAR 120.00``; empty when the catalogue has no price (the page's JavaScript does the same)."""
    if price is None:
        return ""
    sign = CURRENCY_SIGNS.get(currency or "")
    return f"{sign}{price:,.2f}" if sign else f"{currency or ''} {price:,.2f}".strip()


templates.env.filters["price"] = lambda card: price_text(card.get("price"), card.get("currency"))


def _trending(engine: Engine) -> list[dict]:
    """What the page shows before anything is searched: what is popular lately, else the catalogue's first."""
    try:
        _, picks = engine.personal(None, TRENDING)
        return [engine.product(p.product_id) | {"reason": p.reason} for p in picks]
    except AtelierError:
        return [engine.product(pid) for pid in engine.catalogue["product_id"].head(TRENDING).to_list()]


def _signed_in(request: Request) -> dict | None:
    try:
        shopper = accounts.current_shopper(request)
    except UnauthorizedError:
        return None
    return {"user_id": shopper.user_id, "name": shopper.name, "email": shopper.email}


@router.get("/", response_class=HTMLResponse)
def storefront(request: Request) -> HTMLResponse:
    """The shop page."""
    engine: Engine = request.app.state.served.engine
    people = audience(engine)
    shopper = _signed_in(request)
    state = {"shopper": shopper}
    response = templates.TemplateResponse(
        request,
        "index.html",
        {
            "version": __version__,
            "state": state,
            "shopper": shopper,
            "models": list(engine.manifest["widgets"].get("similar", {})),
            "staff": people.shoppers,
            "regions": people.regions,
            "cities": people.cities,
            "trending": people.trending,
        },
    )
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"  # it names the signed-in shopper
    return response


@router.get("/images/{product_id}")
def picture(product_id: str, request: Request) -> Response:
    """A product's picture: the file its catalogue row names, or 404."""
    engine: Engine = request.app.state.served.engine
    item = engine.items.one(product_id, "product")  # 404 naming an unknown product
    path = engine.catalogue["image_path"][item] if "image_path" in engine.catalogue.columns else None
    if not path or not Path(path).is_file():
        raise NotFoundError(f"product {product_id!r} has no picture")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


def same_origin_json(request: Request) -> None:
    """Refuse what a page of another site could send: a body that is not JSON (415), another Origin (403)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise UnsupportedMediaType(f"send the event as application/json (got {kind or 'no content type'})")
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        raise Forbidden(f"events are taken from this site's own page only, not from {origin}")


@router.post(
    "/shop/events",
    response_model=accounts.EventAck,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Depends(same_origin_json)],
)
def shop_event(body: ShopEvent, request: Request) -> accounts.EventAck:
    """A heart or bag button: stored (committed) before the 202, so the shopper's next Personalized Picks
    (which apply the stored events first) change at once. Rate-limited per signed-in shopper, and per client
    for staff events (429)."""
    engine: Engine = request.app.state.served.engine
    limiter: accounts.RateLimiter = request.app.state.rate_limiter  # service.rate_limit_per_minute
    if body.user_id is None:
        user_id = accounts.current_shopper(request).user_id  # 401 without a session
        limiter.take(("shopper", user_id))
    elif body.user_id in audience(engine).ids:
        user_id = body.user_id
        # Staff events need no login: one bucket per client, so nobody posts for every listed shopper at once.
        limiter.take(("staff", request.client.host if request.client else "unknown"))
    else:
        raise Forbidden(
            f"{body.user_id!r} is not one of the training shoppers the staff list offers: log in to shop"
        )
    return accounts.EventAck.of(accounts.record_event(request, user_id, body.product_id, body.kind))
