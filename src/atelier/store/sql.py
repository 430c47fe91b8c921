"""The service's own data in SQL, through this one data-access layer: shoppers who sign up, their login sessions,
the live event log and the API keys. SQLite (WAL) by default, PostgreSQL by URL (``postgresql+psycopg://...``).

What it promises:
- an event is committed before ``record_event`` returns, so an event the API acknowledged survives a restart
  (SQLite runs with ``synchronous=FULL``);
- passwords are kept as argon2id hashes (memory-hard), never in clear;
- session tokens and API keys are random 256-bit secrets, kept as SHA-256 digests: a stolen database holds
  neither; a key is looked up by its digest and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from atelier.errors import InputError, NotFoundError, UnauthorizedError

metadata = sa.MetaData()

shoppers = sa.Table(
    "shoppers",
    metadata,
    sa.Column("user_id", sa.String(64), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("birthdate", sa.Date, nullable=True),
    sa.Column("city", sa.String(200), nullable=True),
    sa.Column("region", sa.String(200), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("token_digest", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(64), sa.ForeignKey("shoppers.user_id"), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)
events = sa.Table(
    "events",
    metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.String(64), nullable=False, index=True),
    sa.Column("product_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # the client's own id for the event: a retry after a lost answer is recognised, not stored twice
    sa.Column("idempotency_key", sa.String(64), nullable=True, unique=True),
)
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_digest", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# each artefact folder the service was told to serve, newest last: every worker follows the newest
served_table = sa.Table(
    "served_artifacts",
    metadata,
    sa.Column("generation", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("folder", sa.String(1000), nullable=False),
    sa.Column("served_at", sa.DateTime(timezone=True), nullable=False),
)

secrets_table = sa.Table(
    "service_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(128), nullable=False),
)

SESSION_DAYS = 14
_hasher = PasswordHasher()  # argon2id with the library's memory-hard defaults


@dataclass(frozen=True)
class Shopper:
    """A signed-up shopper, as the service knows them (never the password)."""

    user_id: str
    email: str
    name: str
    birthdate: date | None
    city: str | None
    region: str | None


@dataclass(frozen=True)
class Event:
    event_id: int
    user_id: str
    product_id: str
    kind: str
    created_at: datetime
    idempotency_key: str | None = None


def sqlite_url(path: str | Path) -> str:
    """The URL of a SQLite file."""
    return f"sqlite:///{Path(path)}"


class Store:
    """Shoppers, sessions, events and API keys in one SQL database; tables are created when missing."""

    def __init__(self, url: str):
        try:
            parsed = sa.engine.make_url(url)
            if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(parsed, pool_pre_ping=True)
        except (sa.exc.ArgumentError, ImportError) as error:
            raise InputError(f"store URL {url!r} is not usable ({error})") from None
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- shoppers and sessions -----------------------------------------------------------------------------------
    def sign_up(
        self,
        name: str,
        email: str,
        password: str,
        birthdate: date | None = None,
        city: str | None = None,
        region: str | None = None,
    ) -> Shopper:
        """A new shopper (a fresh id); an email already signed up is refused."""
        email = email.strip().lower()
        shopper = Shopper("S" + secrets.token_hex(8), email, name.strip(), birthdate, city, region)
        row = {**shopper.__dict__, "password_hash": _hasher.hash(password), "created_at": _now()}
        try:
            with self.engine.begin() as db:
                db.execute(shoppers.insert().values(**row))
        except sa.exc.IntegrityError:
            raise InputError(f"email {email!r} is already signed up: log in instead") from None
        return shopper

    def log_in(self, email: str, password: str) -> tuple[Shopper, str]:
        """(the shopper, a new session token) for a right email and password; a wrong one is a plain refusal."""
        with self.engine.connect() as db:
            row = (
                db.execute(sa.select(shoppers).where(shoppers.c.email == email.strip().lower()))
                .mappings()
                .first()
            )
        try:
            if row is None:
                _hasher.hash(password)  # as slow as a real check, so timing does not tell which emails exist
                raise VerificationError
            _hasher.verify(row["password_hash"], password)
        except (VerificationError, InvalidHashError):
            raise UnauthorizedError("wrong email or password") from None
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as db:
            db.execute(
                sessions.insert().values(
                    token_digest=_digest(token),
                    user_id=row["user_id"],
                    expires_at=_now() + timedelta(days=SESSION_DAYS),
                )
            )
        return _shopper(row), token

    def shopper_of_session(self, token: str) -> Shopper | None:
        """The shopper a live session token belongs to (None when unknown or expired)."""
        query = (
            sa.select(shoppers, sessions.c.expires_at)
            .join(sessions, sessions.c.user_id == shoppers.c.user_id)
            .where(sessions.c.token_digest == _digest(token))
        )
        with self.engine.connect() as db:
            row = db.execute(query).mappings().first()
        if row is None or _aware(row["expires_at"]) <= _now():
            return None
        return _shopper(row)

    def log_out(self, token: str) -> None:
        with self.engine.begin() as db:
            db.execute(sessions.delete().where(sessions.c.token_digest == _digest(token)))

    def shopper(self, user_id: str) -> Shopper:
        with self.engine.connect() as db:
            row = db.execute(sa.select(shoppers).where(shoppers.c.user_id == user_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"unknown shopper {user_id!r}")
        return _shopper(row)

    def shoppers(self, limit: int = 100) -> list[Shopper]:
        """Signed-up shoppers, newest first (shop staff pick one to see what they get)."""
        query = sa.select(shoppers).order_by(shoppers.c.created_at.desc()).limit(limit)
        with self.engine.connect() as db:
            return [_shopper(r) for r in db.execute(query).mappings()]

    # -- events --------------------------------------------------------------------------------------------------
    def record_event(
        self, user_id: str, product_id: str, kind: str, idempotency_key: str | None = None
    ) -> Event:
        """The event, appended and committed (durable) before this returns. An event whose ``idempotency_key`` was
        stored already is not stored again: the first one comes back."""
        created = _now()
        row = {"user_id": user_id, "product_id": product_id, "kind": kind, "created_at": created}
        try:
            with self.engine.begin() as db:
                event_id = db.execute(
                    events.insert().values(**row, idempotency_key=idempotency_key)
                ).inserted_primary_key[0]
        except sa.exc.IntegrityError:
            if idempotency_key is None:
                raise
            query = sa.select(events).where(events.c.idempotency_key == idempotency_key)
            with self.engine.connect() as db:
                return _event(db.execute(query).mappings().one())
        return Event(int(event_id), user_id, product_id, kind, created, idempotency_key)

    def events(self, after_id: int = 0, also: Collection[int] = ()) -> list[Event]:
        """Every event after ``after_id``, and those of the ids in ``also``, oldest first."""
        where = events.c.event_id > after_id
        if also:
            where = where | events.c.event_id.in_(sorted(also))
        query = sa.select(events).where(where).order_by(events.c.event_id)
        with self.engine.connect() as db:
            return [_event(r) for r in db.execute(query).mappings()]

    # -- the artefacts served ------------------------------------------------------------------------------------
    def record_served(self, folder: str | Path) -> int:
        """Note ``folder`` as the artefacts to serve from now on; returns its generation (1, 2, ...)."""
        row = {"folder": str(folder), "served_at": _now()}
        with self.engine.begin() as db:
            return int(db.execute(served_table.insert().values(**row)).inserted_primary_key[0])

    def served(self) -> tuple[int, str] | None:
        """(generation, folder) of the artefacts to serve now, or None if none was recorded."""
        query = sa.select(served_table.c.generation, served_table.c.folder)
        query = query.order_by(served_table.c.generation.desc()).limit(1)
        with self.engine.connect() as db:
            found = db.execute(query).first()
        return (int(found[0]), found[1]) if found else None

    # -- the service's own secrets ---------------------------------------------------------------------------------
    def secret(self, name: str) -> str:
        """A random secret kept in the store (made on first use), so every worker and restart shares it."""
        query = sa.select(secrets_table.c.value).where(secrets_table.c.name == name)
        with self.engine.connect() as db:
            found = db.execute(query).scalar()
        if found is None:
            try:
                with self.engine.begin() as db:
                    db.execute(secrets_table.insert().values(name=name, value=secrets.token_hex(32)))
            except sa.exc.IntegrityError:
                pass  # another worker made it first: read theirs
            with self.engine.connect() as db:
                found = db.execute(query).scalar_one()
        return found

    # -- API keys ------------------------------------------------------------------------------------------------
    def create_api_key(self, name: str) -> str:
        """A new key for ``name``, returned once in clear (only its digest is kept)."""
        key = "atk_" + secrets.token_urlsafe(32)
        try:
            with self.engine.begin() as db:
                db.execute(api_keys.insert().values(key_digest=_digest(key), name=name, created_at=_now()))
        except sa.exc.IntegrityError:
            raise InputError(f"an API key named {name!r} exists already: choose another name") from None
        return key

    def api_key_name(self, key: str) -> str | None:
        """The name of a valid key, None otherwise."""
        digest = _digest(key)
        with self.engine.connect() as db:
            row = db.execute(sa.select(api_keys).where(api_keys.c.key_digest == digest)).mappings().first()
        if row is None or not hmac.compare_digest(row["key_digest"], digest):
            return None
        return row["name"]

    def revoke_api_key(self, name: str) -> bool:
        with self.engine.begin() as db:
            return db.execute(api_keys.delete().where(api_keys.c.name == name)).rowcount > 0


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA synchronous=FULL")  # a committed event is on disk
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _event(row) -> Event:
    return Event(
        row["event_id"], row["user_id"], row["product_id"], row["kind"], _aware(row["created_at"]),
        row["idempotency_key"],
    )  # fmt: skip


def _shopper(row) -> Shopper:
    return Shopper(row["user_id"], row["email"], row["name"], row["birthdate"], row["city"], row["region"])
