"""The REST API over the sample shop's artefacts: every route, its answers and its errors (404 / 422)."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient

from atelier.api import create_app
from atelier.engine import Engine
from atelier.store.sql import Store, sqlite_url
from server_support import atelier_serve


@pytest.fixture(scope="module")
def engine(artifacts) -> Engine:
    return Engine.load(artifacts)


@pytest.fixture(scope="module")
def client(engine, tmp_path_factory):
    store = Store(sqlite_url(tmp_path_factory.mktemp("store") / "api.db"))
    with TestClient(create_app(engine, store=store)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def pair(truth) -> tuple[str, str]:
    first, second = truth["complementary_pairs"][0]
    return first, second


def test_health_names_the_artefacts_and_widgets(client, artifacts):
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["artifacts"] == str(artifacts)
    assert set(body["widgets"]) == {"together", "similar", "personal"}


def test_together_finds_the_planted_partner_with_its_rule_figures(client, pair):
    first, partner = pair
    body = client.get(f"/v1/products/{first}/together", params={"n": 5}).json()
    assert body["product_id"] == first and len(body["recommendations"]) == 5
    top = body["recommendations"][0]
    assert top["product_id"] == partner and top["source"] == "rules"
    assert top["confidence"] > 0 and top["lift"] > 1 and top["reason"]


def test_similar_answers_per_model_and_names_an_unknown_one(client, engine, pair):
    first, _ = pair
    for model in engine.manifest["widgets"]["similar"]:
        body = client.get(f"/v1/products/{first}/similar", params={"n": 3, "model": model}).json()
        assert len(body["recommendations"]) == 3
        assert first not in [r["product_id"] for r in body["recommendations"]]
    response = client.get(f"/v1/products/{first}/similar", params={"model": "nope"})
    assert response.status_code == 404 and "nope" in response.json()["detail"]


def test_personal_routes_a_known_and_a_new_shopper(client, ingested):
    import polars as pl

    known = pl.read_parquet(ingested[0] / "interactions.parquet")["user_id"][0]
    body = client.get(f"/v1/users/{known}/recommendations", params={"n": 4}).json()
    assert body["path"] == "known" and len(body["recommendations"]) == 4
    stranger = client.get(
        "/v1/users/someone-new/recommendations",
        params={"n": 2, "age_group": "18-24", "region": "Dubai Emirate"},
    ).json()
    assert stranger["path"] == "demographics"
    assert stranger["recommendations"][0]["reason"].startswith("popular with 18-24")
    nobody = client.get("/v1/users/someone-new/recommendations").json()
    assert nobody["path"] == "nothing" and len(nobody["recommendations"]) == 10


def test_search_puts_titles_that_start_with_the_query_first(client, engine):
    title = engine.catalogue["title"][0]
    word = title.split()[0]
    body = client.get("/v1/products", params={"q": word.upper(), "n": 50}).json()
    assert body and all(word.lower() in p["title"].lower() for p in body)
    starts = [p["title"].lower().startswith(word.lower()) for p in body]
    assert starts == sorted(starts, reverse=True)  # every prefix match before any other
    card = client.get(f"/v1/products/{body[0]['product_id']}").json()
    assert card == body[0] and card["has_picture"] is True


@pytest.mark.parametrize(
    ("path", "params", "status", "names"),
    [
        ("/v1/products/not-a-product/together", {}, 404, "not-a-product"),
        ("/v1/products/not-a-product/similar", {}, 404, "not-a-product"),
        ("/v1/products/not-a-product", {}, 404, "not-a-product"),
        ("/v1/products/{first}/together", {"n": 0}, 422, "n"),
        ("/v1/products/{first}/together", {"n": "many"}, 422, "n"),
        ("/v1/products/{first}/similar", {"price_min": -1}, 422, "price_min"),
        ("/v1/users/u/recommendations", {"n": 10_001}, 422, "n"),
        ("/v1/users/u/recommendations", {"method": "magic"}, 404, "magic"),
        ("/v1/products", {}, 422, "q"),
        ("/v1/products", {"q": "   "}, 422, "q"),
    ],
)
def test_bad_input_gets_a_clear_4xx_never_a_500(client, pair, path, params, status, names):
    response = client.get(path.format(first=pair[0]), params=params)
    assert response.status_code == status, response.text
    assert names in json.dumps(response.json())


def test_openapi_documents_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/healthz",
        "/v1/products",
        "/v1/products/{product_id}",
        "/v1/products/{product_id}/together",
        "/v1/products/{product_id}/similar",
        "/v1/users/{user_id}/recommendations",
    } <= set(paths)


def test_atelier_serve_answers_on_loopback_and_stops(artifacts, tmp_path):
    store = {"ATELIER_SERVICE__STORE_URL": sqlite_url(tmp_path / "serve.db")}
    with atelier_serve(artifacts, store) as served:
        response = httpx.get(f"{served.base}/healthz", timeout=10)
        assert response.status_code == 200 and response.json()["status"] == "ok"
    assert served.process.returncode == 0, served.output  # stopped cleanly by SIGTERM


def test_product_answers_are_cached_until_a_reload(client, pair):
    first, _ = pair
    answers = client.app.state.served.answers
    answers.together.cache_clear()  # whatever earlier tests asked of this module's app
    one = client.get(f"/v1/products/{first}/together", params={"n": 3}).json()
    two = client.get(f"/v1/products/{first}/together", params={"n": 3}).json()
    info = answers.together.cache_info()
    assert one == two and (info.misses, info.hits) == (1, 1)
