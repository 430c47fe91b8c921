"""Shared fixtures: one small synthetic shop, written and ingested once per test session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atelier.config import load_settings
from atelier.ingest import ingest
from atelier.sample import SampleFiles, write_sample

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def sample_shop(tmp_path_factory) -> SampleFiles:
    """A raw TwentyToo export of 120 products, 300 shoppers and 12,000 events."""
    return write_sample(tmp_path_factory.mktemp("shop"), products=120, users=300, events=12_000, seed=11)


@pytest.fixture(scope="session")
def truth(sample_shop) -> dict:
    return json.loads(sample_shop.ground_truth.read_text())


@pytest.fixture(scope="session")
def ingested(sample_shop, tmp_path_factory):
    """(data folder, report) of the sample shop ingested with default settings."""
    out = tmp_path_factory.mktemp("data")
    report = ingest("twentytoo", [sample_shop.products, *sample_shop.events], out, load_settings())
    return out, report
