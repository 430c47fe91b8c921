"""Shared fixtures: one small synthetic shop, written and ingested once per test session."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from atelier.config import load_settings
from atelier.ingest import ingest
from atelier.sample import SampleFiles, write_sample
from clip_support import write_tiny_clip

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# `make test` draws the same Hypothesis examples on every run, so that a never-seen example cannot decide a
# CI run; `HYPOTHESIS_PROFILE=explore make test` draws new ones, to look for what the fixed ones miss.
hypothesis_settings.register_profile("repeatable", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@contextlib.contextmanager
def environment(name: str, value: str):
    """``os.environ[name] = value`` for the block, then the previous value (or none) again."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory):
    """Exported ONNX networks go to a temporary folder, not the user's ~/.cache, during the tests."""
    folder = tmp_path_factory.mktemp("onnx")
    with environment("ATELIER_SIMILAR__ONNX_CACHE", str(folder)):
        yield folder


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> Path:
    """A tiny random CLIP saved like a hub checkpoint (FashionCLIP's files), loaded as the real one would be."""
    return write_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


@pytest.fixture(scope="session", autouse=True)
def clip_model(tiny_clip):
    """The clip encoder reads the tiny CLIP during the tests (FashionCLIP would need the network)."""
    with environment("ATELIER_SIMILAR__CLIP_MODEL", str(tiny_clip)):
        yield tiny_clip


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


@pytest.fixture(scope="session")
def artifacts(ingested, tmp_path_factory):
    """The sample shop's artefact folder, every widget trained with default settings."""
    from atelier.pipeline import train

    folder = tmp_path_factory.mktemp("artifacts")
    train(ingested[0], folder, load_settings())
    return folder
