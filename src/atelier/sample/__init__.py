"""The synthetic shop: a raw TwentyToo-format export with a known answer.

``write_sample(out_dir, ...)`` writes ``products.csv``, ``events_before_2023-06-01.csv``,
``events_after_2023-06-01.csv``, one picture per product under ``images/`` and ``ground_truth.json`` holding the
planted complementary pairs and the shopper segments, so tests and evaluations can check they are recovered.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from atelier.progress import progress
from atelier.sample.catalogue import COLORS, DEPARTMENTS, make_catalogue, product_rows
from atelier.sample.events import make_events
from atelier.sample.pictures import write_picture
from atelier.sample.shoppers import SEGMENTS, make_shoppers

log = logging.getLogger(__name__)

SPLIT_DAY = datetime(2023, 6, 1)
PRODUCTS_FILE = "products.csv"
EVENTS_BEFORE_FILE = "events_before_2023-06-01.csv"
EVENTS_AFTER_FILE = "events_after_2023-06-01.csv"
GROUND_TRUTH_FILE = "ground_truth.json"


@dataclass(frozen=True)
class SampleFiles:
    """Where a written sample shop lives."""

    root: Path

    @property
    def products(self) -> Path:
        return self.root / PRODUCTS_FILE

    @property
    def events(self) -> list[Path]:
        return [self.root / EVENTS_BEFORE_FILE, self.root / EVENTS_AFTER_FILE]

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def ground_truth(self) -> Path:
        return self.root / GROUND_TRUTH_FILE


def write_sample(
    out_dir: str | Path, products: int = 600, users: int = 2_000, events: int = 60_000, seed: int = 7
) -> SampleFiles:
    """Write a synthetic TwentyToo export of the given size; the same seed gives the same files."""
    files = SampleFiles(Path(out_dir))
    files.images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    catalogue = make_catalogue(products, rng)
    shoppers = make_shoppers(users, rng)

    rows, planted_products = product_rows(catalogue, rng)
    pl.DataFrame(rows).write_csv(files.products)

    with progress() as bar:
        task = bar.add_task("drawing product pictures", total=len(catalogue))
        for p in catalogue:
            write_picture(
                files.images / f"{p.product_id}.png", DEPARTMENTS[p.department][0], COLORS[p.color], p.pattern
            )
            bar.advance(task)

    log.info("generating %s events", f"{events:,}")
    log_ = make_events(catalogue, shoppers, events, rng)
    before = log_.rows["_true_time"] < SPLIT_DAY
    log_.rows.filter(before).drop("_true_time").write_csv(files.events[0])
    log_.rows.filter(~before).drop("_true_time").write_csv(files.events[1])

    truth = {
        "seed": seed,
        "complementary_pairs": [
            [catalogue[a].product_id, catalogue[b].product_id] for a, b in log_.complementary_pairs
        ],
        "segments": [
            {
                "name": seg.name,
                "age_group": seg.age_group,
                "region": seg.region,
                "preferred_departments": list(seg.preferred_departments),
                "users": [s.user_id for s in shoppers if s.segment == i],
            }
            for i, seg in enumerate(SEGMENTS)
        ],
        "colour_variant_groups": [[p.product_id, *p.children] for p in catalogue if p.children],
        "planted": {"products": planted_products, "events": log_.planted},
    }
    files.ground_truth.write_text(json.dumps(truth, indent=1))
    return files
