"""``atelier train``: fit every widget's serving model on a data folder and write one versioned artefact folder.

ARTIFACTS/manifest.json       what was trained, when, from what, with which settings
ARTIFACTS/catalogue.parquet   the products, row i = item i of every model
ARTIFACTS/together/           the Top Picks Together chain (pair rules, variants, departments, bundles)
ARTIFACTS/similar/<encoder>/  Similar Styles, one model per served encoder
ARTIFACTS/personal/           Personalized Picks: one model per method, the training history and the shoppers
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

from atelier import __version__
from atelier.config import Settings
from atelier.errors import InputError
from atelier.features.dataset import Dataset
from atelier.models import make_model
from atelier.models.base import Recommender
from atelier.progress import progress
from atelier.router import PATH_MODELS

log = logging.getLogger(__name__)

ARTIFACT_FORMAT = 2
WIDGETS = ("together", "similar", "personal")

CATALOGUE_COLUMNS = (
    "product_id", "group_id", "title", "brand", "department", "color", "target_audience", "price", "currency",
    "is_available", "image_path", "image_urls",
)  # fmt: skip


def train(
    data_dir: str | Path, out_dir: str | Path, settings: Settings, only: list[str] | None = None
) -> dict:
    """Fit the serving model of each widget in ``only`` (default: all that can be trained); returns the manifest."""
    widgets = only or list(WIDGETS)
    unknown = [w for w in widgets if w not in WIDGETS]
    if unknown:
        raise InputError(f"cannot train {', '.join(unknown)}: trainable widgets are {', '.join(WIDGETS)}")
    data = Dataset.load(data_dir)
    final = Path(out_dir)
    # Written aside and moved in place at the end: a failed run never leaves new files beside old models.
    out = final.parent / f".{final.name}.partial"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    data.products.select(c for c in CATALOGUE_COLUMNS if c in data.products.columns).write_parquet(
        out / "catalogue.parquet"
    )
    manifest: dict = {
        "format": ARTIFACT_FORMAT,
        "atelier_version": __version__,
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data_dir": str(data_dir),
        "n_items": data.n_items,
        "n_users": data.n_users,
        "n_interactions": data.interactions.height,
        "widgets": {},
        "settings": settings.model_dump(mode="json"),
    }
    # widget -> {folder name: registry name} of the models that serve it
    serving = {
        "together": {"chain": "chain"},
        "similar": {name: name for name in settings.similar.serve},
        "personal": {name: name for name in dict.fromkeys([*settings.personal.serve, *PATH_MODELS])},
    }
    if "personal" in widgets:
        if data.interactions.height == 0:
            widgets = [w for w in widgets if w != "personal"]
            manifest["notes"] = ["personal not trained: the data has no interactions"]
        else:
            # The router reads the training history and the shoppers' demographics at serving time.
            (out / "personal").mkdir()
            data.interactions.drop("user", "item").write_parquet(out / "personal" / "interactions.parquet")
            data.users_table.write_parquet(out / "personal" / "users.parquet")
    with progress() as bar:
        task = bar.add_task("train", total=sum(len(serving[w]) for w in widgets))
        for widget in widgets:
            manifest["widgets"][widget] = {}
            for folder, name in serving[widget].items():
                started = time.perf_counter()
                model = make_model(name, settings).fit(data)
                model.save(out / widget / folder)
                seconds = time.perf_counter() - started
                manifest["widgets"][widget][folder] = {"seconds": round(seconds, 3), **_summary(model)}
                log.info("%s: %s trained in %.1f s", widget, name, seconds)
                bar.advance(task)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if final.exists():
        previous = final.parent / f".{final.name}.previous"
        shutil.rmtree(previous, ignore_errors=True)
        final.rename(previous)
        out.rename(final)
        shutil.rmtree(previous)
    else:
        out.rename(final)
    return manifest


def _summary(model: Recommender) -> dict:
    """A few figures a shop engineer checks after training."""
    if model.name == "chain":
        rules = model.rules  # type: ignore[attr-defined]
        return {
            "baskets": int(rules.n_baskets_),
            "single_item_baskets_left_out": int(rules.n_single_baskets_),
            "oversized_baskets_left_out": int(rules.n_oversized_baskets_),
            "pair_rules": rules.n_rules,
            "bundles": int(model.bundles_.shape[0]),  # type: ignore[attr-defined]
        }
    if model.name == "similar":
        encoded = model.encoded_  # type: ignore[attr-defined]
        return {"encoded": int(encoded.sum()), "not_encoded": int((~encoded).sum())}
    return {}
