"""The storefront in a real browser (Debian's chromium) against a real server on 127.0.0.1: search, Top Picks
Together with pictures and reasons, Similar Styles by another model, sign-up, login, and a bag that changes
Personalized Picks. Screenshots of each step go to ``var/test-output/storefront/``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from atelier.api import create_app
from atelier.engine import Engine
from atelier.store.sql import Store, sqlite_url
from browser_support import chromium_page
from server_support import loopback_listener, uvicorn_in_thread

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[1] / "var" / "test-output" / "storefront"
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 10
WAIT_MS = 15_000  # for any one thing to appear on the page
SHOPPER = {"name": "Amira", "email": "amira.browser@example.com", "password": "correct horse"}


@contextmanager
def serving(app) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port in a background thread; its base URL. Stopped on exit."""
    with loopback_listener() as listener:
        config = uvicorn.Config(app, log_level="warning")
        with uvicorn_in_thread(config, START_TIMEOUT_S, STOP_TIMEOUT_S, sockets=[listener]):
            yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def ids(page, grid: str) -> list[str]:
    return page.eval_on_selector_all(f"{grid} .card", "cards => cards.map(c => c.dataset.product)")


def pictures(page, selector: str) -> list[dict]:
    return page.eval_on_selector_all(
        selector,
        "imgs => imgs.map(i => ({src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth}))",
    )


def wait_for_pictures(page, selector: str) -> None:
    """Every picture under ``selector`` finished loading (decoded or failed)."""
    page.wait_for_function(
        "s => [...document.querySelectorAll(s)].every(i => i.complete)", arg=selector, timeout=WAIT_MS
    )


def test_a_shopper_finds_partners_look_alikes_and_picks(artifacts, truth, tmp_path):
    engine = Engine.load(artifacts)
    first, second = truth["complementary_pairs"][0]
    title = engine.product(first)["title"]
    models = list(engine.manifest["widgets"]["similar"])
    assert len(models) >= 2, f"the sample artefacts should train two encoders, got {models}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []

    def shoot(page, name: str, section: str | None = None) -> None:
        """The whole page, or the window scrolled to ``section`` (as the shopper sees it)."""
        path = SHOTS / f"{len(shots) + 1:02d}-{name}.png"
        if section:
            page.locator(section).evaluate("e => e.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(path), full_page=section is None)
        shots.append(path)
        print(f"screenshot: {path}")

    store = Store(sqlite_url(tmp_path / "x.db"))
    app = create_app(engine, store=store)
    with chromium_page() as page, serving(app) as base:
        page.set_default_timeout(WAIT_MS)
        page.emulate_media(reduced_motion="reduce")  # no smooth scrolling under the screenshots
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
        page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
        page.on(
            "console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None
        )

        # 1. the page: three sections, trending cards with pictures
        page.goto(base + "/", wait_until="load")
        headings = page.locator("h2").all_inner_texts()
        for heading in ("Top Picks Together", "Similar Styles", "Personalized Picks"):
            assert heading in headings, headings
        wait_for_pictures(page, "#trending-grid img")
        assert all(p["width"] > 0 for p in pictures(page, "#trending-grid img"))
        shoot(page, "home")

        # 2. search: suggestions as one types, then pick the product
        page.locator("#search").press_sequentially(title[:12], delay=40)
        page.locator("#suggestions li").first.wait_for()
        option = page.locator(f'#suggestions li[data-id="{first}"]')
        if not option.count():
            page.locator("#search").fill(title)  # several products may start alike: the whole title then
        option.wait_for()
        shoot(page, "suggestions", "#together")
        option.click()

        # 3. Top Picks Together: the product's card, its partners with pictures and explanations
        page.locator("#selected-title").filter(has_text=title).wait_for()
        partner = page.locator(f'#together-grid .card[data-product="{second}"]')
        partner.wait_for()
        wait_for_pictures(page, "#together-grid img, #selected-img")
        together = pictures(page, "#together-grid img")
        assert together and all(p["width"] > 0 for p in together), together
        assert pictures(page, "#selected-img")[0]["width"] > 0
        assert partner.locator(".reason").inner_text().strip()
        assert "confidence" in partner.locator(".figures").inner_text()
        assert "lift" in partner.locator(".figures").inner_text()
        assert page.locator("#selected-price").inner_text().strip()
        shoot(page, "together", "#together")

        # 4. Similar Styles: another model gives another list
        page.locator(f'#similar-grid[data-model="{models[0]}"] .card').first.wait_for()
        wait_for_pictures(page, "#similar-grid img")
        by_first = ids(page, "#similar-grid")
        assert by_first and all(p["width"] > 0 for p in pictures(page, "#similar-grid img"))
        assert page.locator("#similar-grid .card .reason").first.inner_text().strip()
        page.select_option("#model", models[1])
        page.locator(f'#similar-grid[data-model="{models[1]}"] .card').first.wait_for()
        by_second = ids(page, "#similar-grid")
        assert by_second and by_second != by_first, (models, by_first, by_second)
        wait_for_pictures(page, "#similar-grid img")
        shoot(page, f"similar-{models[1]}", "#similar")

        # 5. sign up, then log in: Personalized Picks for a newcomer (from their birth date and region)
        page.click("#tab-signup")
        signup = page.locator("#signup-form")
        signup.locator('[name="name"]').fill(SHOPPER["name"])
        signup.locator('[name="email"]').fill(SHOPPER["email"])
        signup.locator('[name="password"]').fill(SHOPPER["password"])
        signup.locator('[name="birthdate"]').fill("1999-04-02")
        signup.locator('[name="city"]').fill("Giza")
        signup.locator('[name="region"]').fill("Giza Governorate")
        shoot(page, "sign-up-form", "#personal")
        signup.locator('button[type="submit"]').click()
        login = page.locator("#login-form")
        login.locator(".form-message").filter(has_text="Welcome").wait_for()
        assert login.locator('[name="email"]').input_value() == SHOPPER["email"]
        login.locator('[name="password"]').fill(SHOPPER["password"])
        login.locator('button[type="submit"]').click()
        page.locator("#chip-name").filter(has_text=SHOPPER["name"]).wait_for()
        page.locator("#personal-grid[data-path] .card").first.wait_for()
        path_before = page.get_attribute("#personal-grid", "data-path")
        picks_before = ids(page, "#personal-grid")
        assert path_before in ("demographics", "nothing") and picks_before
        shoot(page, "logged-in", "#personal")

        # 6. a bag on the partner: the next Personalized Picks follow it
        partner.locator(".bag").click()
        page.locator('#personal-grid[data-path="new_with_events"] .card').first.wait_for()
        picks_after = ids(page, "#personal-grid")
        assert picks_after != picks_before
        assert partner.locator(".bag").inner_text().strip() == "In your bag"
        wait_for_pictures(page, "#personal-grid img")
        assert all(p["width"] > 0 for p in pictures(page, "#personal-grid img"))
        shoot(page, "after-bag", "#personal")

        page.click("#logout")
        page.locator("#account-out").wait_for()

    assert not problems, problems
    assert [(e.product_id, e.kind) for e in store.events()] == [(second, "bag")]
    assert all(path.stat().st_size > 10_000 for path in shots)
