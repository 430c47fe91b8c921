"""``atelier evaluate`` on the real public data in ``../shared/data`` (skipped when it is absent)."""

from __future__ import annotations

import json

import pytest

from cli_support import atelier
from conftest import SHARED_DATA

pytestmark = pytest.mark.realdata


def source(relative: str):
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} not found: real-data evaluation skipped")
    return path


def test_hm_sample_baselines_at_12(tmp_path):
    data = tmp_path / "data"
    assert atelier("ingest", "--format", "hm", str(source("hm-sample")), "--out", str(data)).returncode == 0
    result = atelier(
        "evaluate",
        str(data),
        "--out",
        str(tmp_path / "report"),
        "--k",
        "12",
        "--widgets",
        "personal,together",
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads((tmp_path / "report" / "metrics.json").read_text())
    sizes = {(p["widget"], p["population"]): p["n_users"] for p in doc["populations"]}
    # The last 30 days hold about 300 shoppers; some only bought items new since the split.
    assert 150 < sizes["personal", "warm users"] < 320
    ndcg = {
        m["method"]: m["value"]
        for m in doc["metrics"]
        if (m["widget"], m["population"], m["metric"], m["k"], m["segment"])
        == ("personal", "warm users", "ndcg", 12, "all")
    }
    assert ndcg["popular"] > ndcg["random"]
    for name in ("metrics.json", "report.md", "report.html"):
        assert (tmp_path / "report" / name).is_file()


def test_fashion_product_images_similar_protocol_without_events(tmp_path):
    data = tmp_path / "data"
    styles = source("fashion-product-images-small")
    assert (
        atelier("ingest", "--format", "fashion-product-images", str(styles), "--out", str(data)).returncode
        == 0
    )
    result = atelier(
        "evaluate", str(data), "--out", str(tmp_path / "report"), "--models", "tfidf", "--k", "10"
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert {p["widget"] for p in doc["populations"]} == {"similar"}
    assert "not measured" in doc["notes"]["personal"][0]
    precision = {
        m["method"]: m["value"]
        for m in doc["metrics"]
        if (m["metric"], m["population"], m["segment"]) == ("precision", "same department", "all")
    }
    assert set(precision) == {"random", "tfidf"}
    assert 0 < precision["random"] < 0.2 < precision["tfidf"]  # random neighbours are the floor
