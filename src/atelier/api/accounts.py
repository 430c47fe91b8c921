"""The routes that write: sign-up, login and logout (a session cookie), and events (an API key, rate-limited).

An event is stored (committed) before it is acknowledged; every worker applies the stored events before it
answers Personalized Picks, so an event shapes that shopper's next picks at once, whichever worker took it, and
survives a restart (a worker applies the whole log when it starts).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from atelier.config import AgeGroup
from atelier.errors import AtelierError, NotFoundError, UnauthorizedError
from atelier.store.sql import SESSION_DAYS, Event, Shopper, Store

SESSION_COOKIE = "atelier_session"
Kind = Literal["view", "click", "wishlist", "bag", "purchase"]

router = APIRouter()


class SignUp(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str = Field(min_length=8, max_length=200)
    birthdate: date | None = None
    city: str | None = Field(None, max_length=200)
    region: str | None = Field(None, max_length=200)


class LogIn(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=200)


class EventIn(BaseModel):
    user_id: str = Field(min_length=1, max_length=64)
    product_id: str = Field(min_length=1, max_length=128)
    kind: Kind = "view"
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="retry-safe: sent again, not stored twice",
    )


class EventAck(BaseModel):
    event_id: int
    user_id: str
    product_id: str
    kind: str

    @classmethod
    def of(cls, event: Event) -> EventAck:
        return cls(
            event_id=event.event_id, user_id=event.user_id, product_id=event.product_id, kind=event.kind
        )


class TooManyRequests(AtelierError):
    http_status = 429

    def __init__(self, retry_after: float):
        super().__init__(f"rate limit reached: retry in {math.ceil(retry_after)} s")
        self.retry_after = math.ceil(retry_after)


class RateLimiter:
    """A token bucket per key (an API key, a shopper, a staff client): ``per_minute`` requests a minute, bursts
    up to that many. Keys are tuples whose first part says what they name, so names never share a bucket."""

    # Buckets that have filled up again are dropped once this many are held (a full bucket = no bucket), at
    # most once per refill period: with more active clients than this, a scan per request would drop nothing.
    PRUNE_ABOVE = 10_000

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self.lock = threading.Lock()
        self._pruned_at = -math.inf

    def take(self, key: tuple[str, str]) -> None:
        """Spend one token of ``key``'s bucket, or raise TooManyRequests with the wait."""
        now = self.clock()
        with self.lock:
            tokens, then = self.buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.rate)
            if tokens < 1.0:
                self.buckets[key] = (tokens, now)
                raise TooManyRequests((1.0 - tokens) / self.rate)
            self.buckets[key] = (tokens - 1.0, now)
            if len(self.buckets) > self.PRUNE_ABOVE and now - self._pruned_at >= self.capacity / self.rate:
                self._prune(now)

    def _prune(self, now: float) -> None:
        self._pruned_at = now
        full = [
            k
            for k, (tokens, then) in self.buckets.items()
            if tokens + (now - then) * self.rate >= self.capacity
        ]
        for key in full:
            del self.buckets[key]


def store_of(request: Request) -> Store:
    return request.app.state.store


def api_key(
    request: Request,
    x_api_key: Annotated[str | None, Header(description="a key from `atelier api-key create`")] = None,
) -> str:
    """The name of the caller's valid API key (401 otherwise), after its rate limit (429)."""
    name = store_of(request).api_key_name(x_api_key) if x_api_key else None
    if name is None:
        raise UnauthorizedError(
            "a valid X-API-Key header is needed to write (create one with `atelier api-key create`)"
        )
    request.app.state.rate_limiter.take(("api-key", name))
    return name


async def read_access(
    request: Request,
    x_api_key: Annotated[
        str | None, Header(description="needed when service.read_requires_key is on")
    ] = None,
) -> None:
    """Reads are open unless ``service.read_requires_key``: then a valid API key (rate-limited like writes) or a
    logged-in session is needed (401 otherwise)."""
    # async, so an open read never waits for a worker thread; only the store lookups of a keyed read go to one
    if request.app.state.settings.service.read_requires_key:
        await run_in_threadpool(_check_read_access, request, x_api_key)


def _check_read_access(request: Request, x_api_key: str | None) -> None:
    if x_api_key:
        api_key(request, x_api_key)
        return
    try:
        current_shopper(request)
    except UnauthorizedError:
        raise UnauthorizedError(
            "this shop's API needs an X-API-Key header or a logged-in session to read"
        ) from None


def sign(token: str, secret: str) -> str:
    """``token.signature``: the cookie value (HMAC-SHA256 with the store's session secret)."""
    mac = hmac.new(secret.encode(), token.encode(), hashlib.sha256).digest()
    return f"{token}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def unsign(value: str, secret: str) -> str | None:
    """The token of a cookie value whose signature holds (compared in constant time), None otherwise."""
    token, _, _ = value.rpartition(".")
    return token if token and hmac.compare_digest(sign(token, secret), value) else None


def session_token(request: Request) -> str | None:
    value = request.cookies.get(SESSION_COOKIE)
    return unsign(value, request.app.state.session_secret) if value else None


def current_shopper(request: Request) -> Shopper:
    """The shopper of the session cookie (401 otherwise)."""
    token = session_token(request)
    shopper = store_of(request).shopper_of_session(token) if token else None
    if shopper is None:
        raise UnauthorizedError("not logged in (or the session expired): log in first")
    return shopper


def signed_up_demographics(store: Store, user_id: str, age_groups: list[AgeGroup], today: date) -> dict:
    """Age group (from the birth date) and region of a signed-up shopper; empty for anyone else."""
    try:
        shopper = store.shopper(user_id)
    except NotFoundError:
        return {}
    out: dict[str, str | None] = {"region": shopper.region}
    if shopper.birthdate:
        born = shopper.birthdate
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        out["age_group"] = next((g.name for g in age_groups if g.min <= age <= g.max), None)
    return out


def record_event(
    request: Request, user_id: str, product_id: str, kind: str, idempotency_key: str | None = None
) -> Event:
    """The one way the service takes an event: checked (404 / 422 before anything is stored), then committed.
    Every worker applies it from the store before its next Personalized Picks (``serving.EventFeed``), once:
    a retry of an event already stored is not stored again."""
    request.app.state.served.engine.check_interaction(product_id, kind)
    return store_of(request).record_event(user_id, product_id, kind, idempotency_key)


@router.post("/v1/users", response_model=Shopper, status_code=status.HTTP_201_CREATED, tags=["shoppers"])
def sign_up(body: SignUp, request: Request) -> Shopper:
    """Sign up a shopper (name, email, password, birth date, city, region)."""
    return store_of(request).sign_up(
        body.name, body.email, body.password, body.birthdate, body.city, body.region
    )


@router.post("/v1/login", response_model=Shopper, tags=["shoppers"])
def log_in(body: LogIn, request: Request, response: Response) -> Shopper:
    """Log in: sets an HttpOnly, SameSite session cookie."""
    shopper, token = store_of(request).log_in(body.email, body.password)
    response.set_cookie(
        SESSION_COOKIE,
        sign(token, request.app.state.session_secret),
        max_age=SESSION_DAYS * 86_400,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.service.cookie_secure,
    )
    return shopper


@router.post("/v1/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["shoppers"])
def log_out(request: Request, response: Response) -> None:
    """End the session (no error when there was none)."""
    token = session_token(request)
    if token:
        store_of(request).log_out(token)
    response.delete_cookie(SESSION_COOKIE)


@router.get("/v1/me", response_model=Shopper, tags=["shoppers"])
def me(shopper: Annotated[Shopper, Depends(current_shopper)]) -> Shopper:
    """The logged-in shopper."""
    return shopper


@router.post("/v1/events", response_model=EventAck, status_code=status.HTTP_202_ACCEPTED, tags=["events"])
def log_event(body: EventIn, request: Request, _: Annotated[str, Depends(api_key)]) -> EventAck:
    """Log an interaction (API key): stored durably, then it shapes that shopper's next Personalized Picks."""
    return EventAck.of(record_event(request, body.user_id, body.product_id, body.kind, body.idempotency_key))
