"""The API's writing routes: sign-up, login sessions, events behind API keys, rate limits, and events that
survive a restart."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from atelier.api import create_app
from atelier.config import load_settings
from atelier.engine import Engine
from atelier.store.sql import Store, sqlite_url

AMIRA = {"name": "Amira", "email": "amira@example.com", "password": "correct horse", "city": "Giza"}


@pytest.fixture()
def service(artifacts, tmp_path):
    """(client, store, key) over a fresh engine and store: events change the engine's state."""
    store = Store(sqlite_url(tmp_path / "writes.db"))
    key = store.create_api_key("tests")
    with TestClient(create_app(Engine.load(artifacts), store=store)) as client:
        yield client, store, key


def test_sign_up_log_in_me_and_log_out(service):
    client, _, _ = service
    created = client.post("/v1/users", json=AMIRA)
    assert created.status_code == 201 and created.json()["email"] == "amira@example.com"
    assert "password" not in created.text
    assert client.get("/v1/me").status_code == 401
    logged = client.post("/v1/login", json={"email": "AMIRA@example.com", "password": "correct horse"})
    assert logged.status_code == 200
    cookie = logged.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert client.get("/v1/me").json()["user_id"] == created.json()["user_id"]
    assert client.post("/v1/logout").status_code == 204
    assert client.get("/v1/me").status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        (AMIRA | {"email": "not-an-email"}, 422, "email"),
        (AMIRA | {"password": "short"}, 422, "password"),
        (AMIRA | {"birthdate": "31/02/1999"}, 422, "birthdate"),
        ({"email": "x@y.z"}, 422, "name"),
    ],
)
def test_a_bad_sign_up_is_a_422_naming_the_field(service, body, status, names):
    client, _, _ = service
    response = client.post("/v1/users", json=body)
    assert response.status_code == status and names in response.text


def test_a_second_sign_up_and_a_wrong_password_are_refused(service):
    client, _, _ = service
    client.post("/v1/users", json=AMIRA)
    again = client.post("/v1/users", json=AMIRA)
    assert again.status_code == 422 and "already signed up" in again.json()["detail"]
    wrong = client.post("/v1/login", json={"email": AMIRA["email"], "password": "guess-guess"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong email or password"


def test_events_need_a_valid_key_and_name_what_is_wrong(service, truth):
    client, _, key = service
    product = truth["complementary_pairs"][0][0]
    event = {"user_id": "newbie", "product_id": product, "kind": "bag"}
    assert client.post("/v1/events", json=event).status_code == 401
    assert client.post("/v1/events", json=event, headers={"X-API-Key": key + "x"}).status_code == 401
    unknown = client.post("/v1/events", json=event | {"product_id": "nope"}, headers={"X-API-Key": key})
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    bad_kind = client.post("/v1/events", json=event | {"kind": "stare"}, headers={"X-API-Key": key})
    assert bad_kind.status_code == 422


def test_an_event_changes_the_next_picks_and_survives_a_restart(service, artifacts, truth):
    client, store, key = service
    first = truth["complementary_pairs"][0][0]
    before = client.get("/v1/users/newbie/recommendations", params={"n": 5}).json()
    assert before["path"] == "nothing"
    ack = client.post(
        "/v1/events",
        json={"user_id": "newbie", "product_id": first, "kind": "bag"},
        headers={"X-API-Key": key},
    )
    assert ack.status_code == 202 and ack.json()["event_id"] >= 1
    after = client.get("/v1/users/newbie/recommendations", params={"n": 5}).json()
    assert after["path"] == "new_with_events" and after["recommendations"] != before["recommendations"]
    # a new service over the same store (a restart) replays the event
    with TestClient(create_app(Engine.load(artifacts), store=store)) as restarted:
        again = restarted.get("/v1/users/newbie/recommendations", params={"n": 5}).json()
    assert again == after
    assert [e.product_id for e in store.events()] == [first]


def test_the_rate_limit_answers_429_with_retry_after(artifacts, tmp_path, truth):
    settings = load_settings()
    settings.service.rate_limit_per_minute = 3
    store = Store(sqlite_url(tmp_path / "limited.db"))
    key = store.create_api_key("eager")
    event = {"user_id": "u", "product_id": truth["complementary_pairs"][0][0], "kind": "view"}
    with TestClient(create_app(Engine.load(artifacts), settings=settings, store=store)) as client:
        codes = [
            client.post("/v1/events", json=event, headers={"X-API-Key": key}).status_code for _ in range(4)
        ]
        limited = client.post("/v1/events", json=event, headers={"X-API-Key": key})
    assert codes == [202, 202, 202, 429] and limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1 and "rate limit" in limited.json()["detail"]
    assert len(store.events()) == 3  # a refused event is not stored


def test_rate_limit_buckets_are_per_kind_of_key_and_full_ones_are_dropped(monkeypatch):
    from atelier.api.accounts import RateLimiter, TooManyRequests

    limiter = RateLimiter(per_minute=1)
    limiter.take(("api-key", "shopper"))
    limiter.take(("shopper", "shopper"))  # the same name, another kind of key: a bucket of its own
    with pytest.raises(TooManyRequests):
        limiter.take(("api-key", "shopper"))
    monkeypatch.setattr(RateLimiter, "PRUNE_ABOVE", 2)
    times = iter([1000.0, 1000.0, 2000.0])  # much later, every earlier bucket is full again
    fresh = RateLimiter(per_minute=1, clock=lambda: next(times))
    fresh.take(("staff", "a"))
    fresh.take(("staff", "b"))
    fresh.take(("staff", "c"))
    assert set(fresh.buckets) == {("staff", "c")}

    # At most one scan per refill period (60 s here), however many buckets are held.
    times = iter([0.0, 50.0, 50.0, 70.0, 111.0])
    paced = RateLimiter(per_minute=1, clock=lambda: next(times))
    for name in "abc":
        paced.take(("staff", name))  # c: a scan at 50 s, nothing full yet
    paced.take(("staff", "d"))  # a is full at 70 s, but the last scan was 20 s ago
    assert ("staff", "a") in paced.buckets
    paced.take(("staff", "e"))  # 61 s after the last scan: a, b and c are full and dropped
    assert set(paced.buckets) == {("staff", "d"), ("staff", "e")}


def test_the_cli_creates_and_revokes_keys(tmp_path):
    from cli_support import atelier

    env = {"ATELIER_SERVICE__STORE_URL": sqlite_url(tmp_path / "keys.db")}
    created = atelier("api-key", "create", "backend", env_extra=env)
    key = created.stdout.strip()
    assert created.returncode == 0 and key.startswith("atk_")
    assert Store(env["ATELIER_SERVICE__STORE_URL"]).api_key_name(key) == "backend"
    assert atelier("api-key", "revoke", "backend", env_extra=env).returncode == 0
    missing = atelier("api-key", "revoke", "backend", env_extra=env)
    assert missing.returncode != 0 and "no API key named 'backend'" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_metrics_count_requests_by_route_and_picks_by_source(service, truth):
    client, _, _ = service
    first = truth["complementary_pairs"][0][0]
    for _ in range(3):
        client.get(f"/v1/products/{first}/together", params={"n": 2})
    client.get("/v1/products/nope/together")
    text = client.get("/metrics").text
    route = 'route="/v1/products/{product_id}/together"'
    assert f'atelier_requests_total{{method="GET",{route},status="200"}} 3.0' in text
    assert f'atelier_requests_total{{method="GET",{route},status="404"}} 1.0' in text
    assert 'atelier_recommendations_total{source="rules",widget="together"}' in text
    assert "atelier_request_seconds_bucket" in text and first not in text  # ids never become labels


def test_reload_swaps_in_an_artefact_folder_and_refuses_a_bad_one(service, artifacts, tmp_path):
    client, _, key = service
    assert client.post("/v1/admin/reload").status_code == 401
    fine = client.post("/v1/admin/reload", headers={"X-API-Key": key})
    assert fine.status_code == 200 and fine.json()["artifacts"] == str(artifacts)
    bad = client.post("/v1/admin/reload", params={"artifacts": str(tmp_path)}, headers={"X-API-Key": key})
    assert bad.status_code == 422 and "manifest.json" in bad.json()["detail"]
    # A path the system refuses to look up (a name longer than 255 bytes) is the asker's error, not a 500.
    odd = client.post("/v1/admin/reload", params={"artifacts": "x" * 300}, headers={"X-API-Key": key})
    assert odd.status_code == 422 and "File name too long" in odd.json()["detail"]
    assert client.get("/healthz").json()["artifacts"] == str(artifacts)  # the old engine still serves


def test_a_tampered_session_cookie_is_no_session(service):
    client, _, _ = service
    client.post("/v1/users", json=AMIRA)
    client.post("/v1/login", json={"email": AMIRA["email"], "password": AMIRA["password"]})
    value = client.cookies.get("atelier_session")
    token, _, signature = value.rpartition(".")
    assert client.get("/v1/me").status_code == 200
    for forged in (f"{token}x.{signature}", token):  # another token under the old signature; the bare token
        client.cookies.clear()
        client.cookies.set("atelier_session", forged)
        assert client.get("/v1/me").status_code == 401
    client.cookies.clear()
    client.cookies.set("atelier_session", value)
    assert client.get("/v1/me").status_code == 200  # the genuine cookie, set the same way, still works


def test_a_new_sign_up_gets_what_is_popular_with_their_age_group_and_region(service):
    from datetime import date

    client, _, _ = service
    today = date.today()
    born = date(today.year - 20, 1, 1)
    body = AMIRA | {"birthdate": born.isoformat(), "region": "Riyadh Province"}
    user_id = client.post("/v1/users", json=body).json()["user_id"]
    picks = client.get(f"/v1/users/{user_id}/recommendations", params={"n": 3}).json()
    assert picks["path"] == "demographics"
    assert picks["recommendations"][0]["reason"] == "popular with 18-24 in Riyadh Province"


def test_an_event_sent_twice_with_its_idempotency_key_is_stored_once(service, truth):
    client, store, key = service
    event = {
        "user_id": "u7",
        "product_id": truth["complementary_pairs"][0][0],
        "kind": "bag",
        "idempotency_key": "k-1",
    }
    first = client.post("/v1/events", json=event, headers={"X-API-Key": key})
    again = client.post("/v1/events", json=event, headers={"X-API-Key": key})
    assert first.status_code == again.status_code == 202
    assert first.json()["event_id"] == again.json()["event_id"]
    assert [e.idempotency_key for e in store.events()] == ["k-1"]
    bad = client.post(
        "/v1/events", json=event | {"idempotency_key": "spaces are not allowed"}, headers={"X-API-Key": key}
    )
    assert bad.status_code == 422


def test_reads_can_require_a_key_or_a_session(artifacts, tmp_path, truth):
    settings = load_settings()
    settings.service.read_requires_key = True
    store = Store(sqlite_url(tmp_path / "keyed.db"))
    key = store.create_api_key("reader")
    path = f"/v1/products/{truth['complementary_pairs'][0][0]}/together"
    with TestClient(create_app(Engine.load(artifacts), settings=settings, store=store)) as client:
        refused = client.get(path)
        assert refused.status_code == 401 and "X-API-Key" in refused.json()["detail"]
        assert client.get(path, headers={"X-API-Key": key}).status_code == 200
        client.post("/v1/users", json=AMIRA)
        client.post("/v1/login", json={"email": AMIRA["email"], "password": AMIRA["password"]})
        assert client.get(path).status_code == 200  # a logged-in shopper reads without a key
        assert client.get("/healthz").status_code == 200  # the probe stays open
