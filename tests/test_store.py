"""The service's SQL store: shoppers, sessions, durable events and API keys, against SQLite and against a real
PostgreSQL server (Debian's package, started by the test set-up; those cases skip, saying why, where none can
be started)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from atelier.errors import InputError, NotFoundError, UnauthorizedError
from atelier.store.sql import Store, metadata, sessions, sqlite_url
from postgres_support import fresh_database, postgres_server


@pytest.fixture(scope="module")
def postgres():
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "shop.db")
    return fresh_database(request.getfixturevalue("postgres"))


@pytest.fixture()
def store(store_url):
    s = Store(store_url)
    yield s
    s.close()


def test_sign_up_log_in_and_the_session(store):
    amira = store.sign_up("Amira", " Amira@Example.com ", "correct horse", date(1999, 4, 2), "Giza", None)
    assert amira.email == "amira@example.com" and amira.birthdate == date(1999, 4, 2)
    shopper, token = store.log_in("AMIRA@example.com", "correct horse")
    assert shopper == amira and len(token) >= 40
    assert store.shopper_of_session(token) == amira
    assert store.shopper(amira.user_id) == amira and store.shoppers() == [amira]
    store.log_out(token)
    assert store.shopper_of_session(token) is None


def test_wrong_password_unknown_email_and_a_second_sign_up_are_refused(store):
    store.sign_up("Omar", "omar@example.com", "s3cret-enough")
    with pytest.raises(UnauthorizedError, match="wrong email or password"):
        store.log_in("omar@example.com", "guess")
    with pytest.raises(UnauthorizedError, match="wrong email or password"):
        store.log_in("nobody@example.com", "guess")
    with pytest.raises(InputError, match="already signed up"):
        store.sign_up("Omar again", "OMAR@example.com", "another")
    with pytest.raises(NotFoundError, match="unknown shopper 'S0'"):
        store.shopper("S0")


def test_passwords_and_tokens_are_never_stored_in_clear(store):
    store.sign_up("Lina", "lina@example.com", "plain-text-password")
    _, token = store.log_in("lina@example.com", "plain-text-password")
    key = store.create_api_key("shop-backend")
    with store.engine.connect() as db:
        rows = [v for table in metadata.sorted_tables for row in db.execute(table.select()) for v in row]
    stored = " ".join(str(v) for v in rows)
    for secret in ("plain-text-password", token, key):
        assert secret not in stored
    assert "$argon2id$" in stored


def test_an_expired_session_is_no_session(store):
    store.sign_up("Hana", "hana@example.com", "pw-pw-pw-pw")
    _, token = store.log_in("hana@example.com", "pw-pw-pw-pw")
    with store.engine.begin() as db:
        db.execute(sa.update(sessions).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert store.shopper_of_session(token) is None


def test_events_are_durable_across_a_reopen_and_come_back_in_order(store_url):
    url = store_url
    first = Store(url)
    written = [first.record_event("u1", f"p{i}", "bag") for i in range(5)]
    first.close()  # as if the service stopped
    again = Store(url)
    assert [e.event_id for e in again.events()] == [e.event_id for e in written]
    assert [e.product_id for e in again.events(after_id=written[2].event_id)] == ["p3", "p4"]
    again.close()


def test_api_keys_are_checked_revoked_and_named_once(store):
    key = store.create_api_key("shop-backend")
    assert key.startswith("atk_") and store.api_key_name(key) == "shop-backend"
    assert store.api_key_name(key + "x") is None and store.api_key_name("") is None
    with pytest.raises(InputError, match="exists already"):
        store.create_api_key("shop-backend")
    assert store.revoke_api_key("shop-backend") and store.api_key_name(key) is None


def test_a_bad_store_url_is_one_clear_error():
    with pytest.raises(InputError, match="store URL 'nonsense://x' is not usable"):
        Store("nonsense://x")
