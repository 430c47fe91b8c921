"""The storefront page at ``/`` (no browser): it renders the three widgets, serves the catalogue's pictures only,
and its heart / bag events need a session (or a listed training shopper) and change Personalized Picks."""

from __future__ import annotations

import polars as pl
import pytest
from fastapi.testclient import TestClient

from atelier.api import create_app
from atelier.config import load_settings
from atelier.engine import Engine
from atelier.store.sql import Store, sqlite_url
from atelier.web.routes import STAFF_SHOPPERS, audience, price_text

AMIRA = {
    "name": "Amira",
    "email": "amira@example.com",
    "password": "correct horse",
    "birthdate": "1999-04-02",
    "city": "Giza",
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def engine(artifacts) -> Engine:
    """A fresh engine per test: events change its state."""
    return Engine.load(artifacts)


@pytest.fixture()
def shop(engine, tmp_path):
    """(client, store) over the engine and an empty store."""
    store = Store(sqlite_url(tmp_path / "x.db"))
    with TestClient(create_app(engine, store=store)) as client:
        yield client, store


@pytest.fixture(scope="module")
def pair(truth) -> tuple[str, str]:
    first, second = truth["complementary_pairs"][0]
    return first, second


def log_in(client: TestClient) -> str:
    """Sign Amira up and log her in (the client keeps the session cookie); her user id."""
    created = client.post("/v1/users", json=AMIRA)
    assert created.status_code == 201, created.text
    logged = client.post("/v1/login", json={"email": AMIRA["email"], "password": AMIRA["password"]})
    assert logged.status_code == 200, logged.text
    return created.json()["user_id"]


def test_the_page_shows_the_three_widgets_with_product_cards(shop, engine):
    client, _ = shop
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    for heading in ("Top Picks Together", "Similar Styles", "Personalized Picks"):
        assert f">{heading}</h2>" in html, heading
    assert "Welcome To TwentyToo Fashion Recommendation Engine" in html
    for model in engine.manifest["widgets"]["similar"]:
        assert f'<option value="{model}">' in html
    assert 'id="search"' in html and "Get Recommendations" in html
    for form_field in ("name", "email", "password", "birthdate", "city", "region"):
        assert f'name="{form_field}"' in html, form_field
    # the trending cards are real product cards: picture, title, price, heart and bag
    assert html.count('class="card"') >= 10 + 1  # ten trending, and the blank one the script clones
    assert html.count('src="/images/') >= 10 and 'data-action="bag"' in html
    # the staff list: the most active training shoppers
    staff = audience(engine).shoppers
    assert 0 < len(staff) <= STAFF_SHOPPERS
    assert staff == sorted(staff, key=lambda s: -s["events"])
    assert f'<option value="{staff[0]["user_id"]}">' in html
    # nothing from elsewhere, and the page says so to the browser
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/static/shop.js", "/static/shop.css", "/static/favicon.svg"):
        assert client.get(asset).status_code == 200, asset


def test_the_page_names_the_logged_in_shopper(shop):
    client, _ = shop
    log_in(client)
    assert "Hi, Amira" in client.get("/").text


def test_pictures_are_the_catalogues_files_only(shop, engine, pair, tmp_path):
    client, _ = shop
    first, second = pair
    picture = client.get(f"/images/{first}")
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert picture.content.startswith(PNG_MAGIC)
    unknown = client.get("/images/not-a-product")
    assert unknown.status_code == 404 and "not-a-product" in unknown.json()["detail"]
    for sneaky in ("/images/..%2F..%2Fetc%2Fpasswd", "/images/%2Fetc%2Fpasswd", "/images/."):
        assert client.get(sneaky).status_code == 404, sneaky
    # a product the catalogue gives no picture, and one whose file is gone
    gone = str(tmp_path / "gone.png")
    engine.catalogue = engine.catalogue.with_columns(
        pl.when(pl.col("product_id") == first)
        .then(None)
        .when(pl.col("product_id") == second)
        .then(pl.lit(gone))
        .otherwise(pl.col("image_path"))
        .alias("image_path")
    )
    for product in (first, second):
        missing = client.get(f"/images/{product}")
        assert missing.status_code == 404 and "no picture" in missing.json()["detail"]


def test_events_need_a_session_and_say_what_is_wrong(shop, pair):
    client, store = shop
    first, _ = pair
    event = {"product_id": first, "kind": "bag"}
    refused = client.post("/shop/events", json=event)
    assert refused.status_code == 401 and "log in" in refused.json()["detail"]
    log_in(client)
    cases = [
        ({"json": event | {"product_id": "nope"}}, 404, "nope"),
        ({"json": event | {"kind": "stare"}}, 422, "kind"),
        ({"json": event | {"kind": "click"}}, 422, "kind"),  # the page's buttons send no clicks
        ({"json": event | {"price": 1}}, 422, "price"),
        ({"json": {"kind": "bag"}}, 422, "product_id"),
        ({"json": event | {"product_id": ""}}, 422, "product_id"),
        ({"json": event | {"product_id": "x" * 500}}, 422, "product_id"),
        ({"json": [1, 2]}, 422, ""),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 422, ""),
        ({"data": event}, 415, "application/json"),  # what a cross-site form sends
        (
            {"content": b'{"product_id": "x", "kind": "bag"}', "headers": {"content-type": "text/plain"}},
            415,
            "",
        ),
        ({"json": event, "headers": {"origin": "https://elsewhere.example"}}, 403, "elsewhere"),
        ({"json": event | {"user_id": "someone-else"}}, 403, "someone-else"),
    ]
    for request, status, names in cases:
        response = client.post("/shop/events", **request)
        assert response.status_code == status, (request, response.text)
        assert names in response.text, (request, response.text)
    assert store.events() == []  # nothing refused was stored


def test_a_shoppers_events_are_rate_limited(engine, pair, tmp_path):
    settings = load_settings()
    settings.service.rate_limit_per_minute = 2
    store = Store(sqlite_url(tmp_path / "limited.db"))
    first, _ = pair
    with TestClient(create_app(engine, settings=settings, store=store)) as client:
        log_in(client)
        codes = [
            client.post("/shop/events", json={"product_id": first, "kind": "bag"}).status_code
            for _ in range(3)
        ]
        limited = client.post("/shop/events", json={"product_id": first, "kind": "wishlist"})
        # staff events share one bucket per client, whichever listed shopper they are for
        staff = [s["user_id"] for s in audience(engine).shoppers[:3]]
        for_staff = [
            client.post("/shop/events", json={"product_id": first, "kind": "bag", "user_id": u}).status_code
            for u in staff
        ]
    assert codes == [202, 202, 429] and limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1 and "rate limit" in limited.json()["detail"]
    assert for_staff == [202, 202, 429]
    assert len(store.events()) == 4  # a refused event is not stored


def test_a_bag_changes_the_shoppers_next_picks(shop, pair):
    client, store = shop
    first, _ = pair
    user_id = log_in(client)
    before = client.get(f"/v1/users/{user_id}/recommendations", params={"n": 5}).json()
    assert before["path"] == "demographics"  # signed up, no events yet
    same_site = {"origin": str(client.base_url)}
    sent = client.post("/shop/events", json={"product_id": first, "kind": "bag"}, headers=same_site)
    assert sent.status_code == 202, sent.text
    assert sent.json() | {"event_id": 0} == {
        "event_id": 0,
        "user_id": user_id,
        "product_id": first,
        "kind": "bag",
    }
    assert [(e.user_id, e.product_id, e.kind) for e in store.events()] == [(user_id, first, "bag")]
    after = client.get(f"/v1/users/{user_id}/recommendations", params={"n": 5}).json()
    assert after["path"] == "new_with_events"
    assert [p["product_id"] for p in after["recommendations"]] != [
        p["product_id"] for p in before["recommendations"]
    ]


def test_the_staff_list_counts_the_training_events_of_each_shopper(engine, artifacts):
    shoppers = engine.shoppers()
    trained = pl.read_parquet(artifacts / "personal" / "interactions.parquet")
    expected = dict(trained.group_by("user_id").len().iter_rows())
    counted = dict(shoppers.filter(pl.col("events") > 0).select("user_id", "events").iter_rows())
    assert counted == expected
    assert shoppers["events"].to_list() == sorted(shoppers["events"].to_list(), reverse=True)
    users = pl.read_parquet(artifacts / "personal" / "users.parquet")
    assert set(users["user_id"]) <= set(shoppers["user_id"])  # shoppers without a training event too
    assert {"age_group", "city", "region"} <= set(shoppers.columns)
    staff = audience(engine)
    assert [s["user_id"] for s in staff.shoppers] == shoppers["user_id"].head(len(staff.shoppers)).to_list()
    assert staff.regions == sorted(users["region"].drop_nulls().unique().to_list())[: len(staff.regions)]
    without_personal = Engine(engine.folder, {"widgets": {}}, engine.catalogue, together=None)
    assert without_personal.shoppers().height == 0 and audience(without_personal).shoppers == []


def test_staff_may_shop_for_a_listed_training_shopper_only(shop, engine):
    client, store = shop
    staff = audience(engine).shoppers[0]["user_id"]
    before = client.get(f"/v1/users/{staff}/recommendations", params={"n": 10}).json()
    top = before["recommendations"][0]["product_id"]
    sent = client.post("/shop/events", json={"product_id": top, "kind": "purchase", "user_id": staff})
    assert sent.status_code == 202 and sent.json()["user_id"] == staff
    assert [e.user_id for e in store.events()] == [staff]
    after = client.get(f"/v1/users/{staff}/recommendations", params={"n": 10}).json()
    assert after["path"] == before["path"] == "known"
    assert top not in [p["product_id"] for p in after["recommendations"]]  # bought now, so left out at once


@pytest.mark.parametrize(
    ("price", "currency", "text"),
    [(18.0, "USD", "$18.00"), (1234.5, "EUR", "€1,234.50"), (99.0, "SAR", "SAR 99.00"), (None, "USD", "")],
)
def test_prices_read_like_a_shops(price, currency, text):
    assert price_text(price, currency) == text
