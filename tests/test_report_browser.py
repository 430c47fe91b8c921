"""The evaluation report, opened in a real browser, shows its plots (embedded PNGs that decode and render)."""

from __future__ import annotations

import pytest

from atelier.config import load_settings
from atelier.evaluate import evaluate
from atelier.evaluate.report import write_report
from browser_support import chromium_page, image_states

pytestmark = pytest.mark.browser

WIDGET_HEADINGS = ("Top Picks Together", "Similar Styles", "Personalized Picks")


def test_report_html_shows_its_plots(ingested, tmp_path):
    data_dir, _ = ingested
    with chromium_page() as page:  # first, so a machine without a browser skips before the evaluation runs
        report = write_report(evaluate(data_dir, load_settings()), tmp_path)["html"]
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(f"script error: {exc}"))
        page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}"))
        page.goto(report.as_uri(), wait_until="load")

        images = image_states(page)
        headings = page.locator("h1, h2, h3").all_inner_texts()

    assert not errors, errors
    assert len(images) >= 4, f"expected at least 4 plots, found {len(images)}"
    for img in images:
        where = img["alt"] or img["src"]
        assert img["src"].startswith("data:image/png;base64,"), f"{where}: not embedded"
        assert img["inFigure"], f"{where}: not inside a <figure>"
        assert img["complete"], f"{where}: never finished loading"
        assert img["naturalWidth"] > 100 and img["naturalHeight"] > 0, f"{where}: did not decode ({img})"
        assert img["width"] > 0 and img["height"] > 0, f"{where}: takes no room on the page ({img})"
    for title in WIDGET_HEADINGS:
        assert title in headings, f"no heading {title!r} in {headings}"
