"""The widgets as a shop serves them: a trained artefact folder in, product recommendations with reasons out.

Each recommended item says which source produced it (pair rules, another colour of the style, a department
bought alongside, departmental or overall popularity), and that becomes its explanation. Business filters
(in stock only, not the item's own department) are applied here, for every model alike.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from atelier.errors import InputError, NotFoundError
from atelier.features.ids import IdMap
from atelier.models.similar import SimilarStyles
from atelier.models.together_chain import TogetherChain
from atelier.pipeline import ARTIFACT_FORMAT
from atelier.recommendation import MAX_N, Recommendation
from atelier.router import PersonalRouter

#: what a product card holds, when the catalogue has it
CARD_FIELDS = (
    "product_id", "title", "brand", "department", "color", "target_audience", "price", "currency",
    "is_available", "image_urls",
)  # fmt: skip


class Engine:
    """Loads an artefact folder written by ``atelier train`` and answers the widgets."""

    def __init__(
        self,
        folder: Path,
        manifest: dict,
        catalogue: pl.DataFrame,
        together: TogetherChain | None,
        similar: dict[str, SimilarStyles] | None = None,
        personal: PersonalRouter | None = None,
    ):
        self.folder = folder
        self.manifest = manifest
        self.catalogue = catalogue
        self.items = IdMap(catalogue["product_id"])
        self._together = together
        self._similar = similar or {}
        self._personal = personal

    @classmethod
    def load(cls, folder: str | Path) -> Engine:
        """The engine of an artefact folder; a clear error when the folder is not one."""
        folder = Path(folder)
        manifest = read_manifest(folder)
        widgets = manifest["widgets"]
        try:
            catalogue = pl.read_parquet(folder / "catalogue.parquet")
            together = TogetherChain.load(folder / "together" / "chain") if "together" in widgets else None
            similar = {
                name: SimilarStyles.load(folder / "similar" / name) for name in widgets.get("similar", {})
            }
            personal = _load_router(folder, manifest, catalogue) if "personal" in widgets else None
        except (OSError, ValueError, KeyError, pl.exceptions.PolarsError) as exc:
            raise InputError(f"{folder}: incomplete or damaged artefacts ({exc}): train them again") from None
        return cls(folder, manifest, catalogue, together, similar, personal)

    @property
    def widgets(self) -> list[str]:
        """The widgets these artefacts serve."""
        return list(self.manifest["widgets"])

    # -- the catalogue -------------------------------------------------------------------------------------------
    def product(self, product_id: str) -> dict:
        """One product's card: id, title, brand, department, colour, price, availability, picture URLs."""
        return self._card(self.items.one(product_id, "product"))

    def _card(self, item: int) -> dict:
        row = self.catalogue.row(item, named=True)
        return {key: row.get(key) for key in CARD_FIELDS} | {"has_picture": bool(row.get("image_path"))}

    def search(self, query: str, n: int = 10) -> list[dict]:
        """Products whose title holds ``query`` (any case), titles that start with it first: the storefront's
        title search and its suggestions."""
        _check_n(n)
        text = query.strip().lower()
        if not text:
            raise InputError("q must hold at least one non-space character")
        titles = self.catalogue["title"].fill_null("").str.to_lowercase()
        found = pl.DataFrame({"row": np.arange(len(titles)), "title": titles}).filter(
            pl.col("title").str.contains(text, literal=True)
        )
        ranked = found.sort(
            [pl.col("title").str.starts_with(text), pl.col("title").str.len_chars()],
            descending=[True, False],
            maintain_order=True,
        )
        return [self._card(r) for r in ranked["row"].head(n).to_list()]

    # -- Personalized Picks --------------------------------------------------------------------------------------
    def personal(
        self,
        user_id: str | None,
        n: int = 10,
        method: str | None = None,
        demographics: dict[str, str | None] | None = None,
        exclude_bought: bool = True,
        in_stock: bool = False,
        department: str | None = None,
    ) -> tuple[str, list[Recommendation]]:
        """(the router's path, the picks) for a shopper: see ``router.PersonalRouter``."""
        return self._router().recommend(
            user_id, n, demographics, exclude_bought, in_stock, department, method
        )

    def log_interaction(self, user_id: str, product_id: str, kind: str = "view") -> None:
        """A live event: it shapes the shopper's next Personalized Picks, without retraining."""
        self._router().log_interaction(user_id, product_id, kind)

    def check_interaction(self, product_id: str, kind: str) -> None:
        """Raise what ``log_interaction`` would (unknown product, unknown kind, no personal widget), changing
        nothing: the service stores an event only once it is known to apply."""
        self._router().check_interaction(product_id, kind)

    def shoppers(self) -> pl.DataFrame:
        """The shoppers Personalized Picks was trained on, most active first: ``user_id``, ``events`` (their
        training interactions) and the users table's other columns. No rows without Personalized Picks."""
        if self._personal is None:
            return pl.DataFrame(schema={"user_id": pl.String, "events": pl.UInt32})
        data = self._personal.data
        # users_table row i is user i, the integer `user` of the interactions: counting needs no join
        events = np.bincount(data.interactions["user"].to_numpy(), minlength=data.n_users)
        return data.users_table.with_columns(events=pl.Series(events, dtype=pl.UInt32)).sort(
            ["events", "user_id"], descending=[True, False]
        )

    def _router(self) -> PersonalRouter:
        if self._personal is None:
            raise NotFoundError(
                "widget 'personal' is not in these artefacts (train it with `atelier train --only personal`)"
            )
        return self._personal

    # -- Similar Styles ------------------------------------------------------------------------------------------
    def similar(
        self,
        product_id: str,
        n: int = 10,
        model: str | None = None,
        in_stock: bool = False,
        same_audience: bool = False,
        price_min: float | None = None,
        price_max: float | None = None,
    ) -> list[Recommendation]:
        """Look-alikes of ``product_id`` by the encoder ``model`` (default: the first trained), with reasons."""
        if not self._similar:
            raise NotFoundError(
                "widget 'similar' is not in these artefacts (train it with `atelier train --only similar`)"
            )
        name = model or next(iter(self._similar))
        if name not in self._similar:
            raise NotFoundError(f"unknown similar model {name!r} (trained: {', '.join(self._similar)})")
        _check_n(n)
        item = self.items.one(product_id, "product")
        query = _row(np.array([item]), len(self.items))
        mask = self._mask(item, in_stock, False)
        if same_audience:
            audience = self.catalogue["target_audience"][item]
            mask |= (
                (self.catalogue["target_audience"] != audience).fill_null(True).to_numpy()
                if audience
                else False
            )
        price = self.catalogue["price"]
        if price_min is not None:
            mask |= (price < price_min).fill_null(True).to_numpy()
        if price_max is not None:
            mask |= (price > price_max).fill_null(True).to_numpy()
        ranked, scores = self._similar[name].related(query, n, _row_mask(mask))
        kind = {"image": "visual", "colour": "colour", "tfidf": "text", "text": "text", "clip": "style"}.get(
            name, "overall"
        )
        return [
            Recommendation(
                str(self.items.ids[c]), float(sc), name, self._similar_reason(item, int(c), float(sc), kind)
            )
            for c, sc in zip(ranked[0], scores[0], strict=True)
            if c >= 0
        ]

    def other_colours(self, product_id: str) -> list[Recommendation]:
        """The product's own colour variants (same style), offered apart from its look-alikes."""
        item = self.items.one(product_id, "product")
        group = self.catalogue["group_id"][item]
        if group is None:
            return []
        rows = self.catalogue.with_row_index("i").filter(
            (pl.col("group_id") == group) & (pl.col("i") != item)
        )
        return [
            Recommendation(
                r["product_id"], 1.0, "variants", f"the same style{' in ' + r['color'] if r['color'] else ''}"
            )
            for r in rows.iter_rows(named=True)
        ]

    def _similar_reason(self, item: int, candidate: int, score: float, kind: str) -> str:
        query, other = self.catalogue.row(item, named=True), self.catalogue.row(candidate, named=True)
        shared = [
            label
            for label, column in (
                ("department", "department"),
                ("colour", "color"),
                ("audience", "target_audience"),
            )
            if query.get(column) and query.get(column) == other.get(column)
        ]
        listed = ", ".join(shared[:-1]) + f" and {shared[-1]}" if len(shared) > 1 else "".join(shared)
        same = f"same {listed}; " if shared else ""
        return f"{same}{score:.2f} {kind} similarity"

    # -- Top Picks Together --------------------------------------------------------------------------------------
    def together(
        self, product_id: str, n: int = 10, in_stock: bool = False, exclude_department: bool = False
    ) -> list[Recommendation]:
        """What is bought with ``product_id``, best first, each with its source and reason."""
        model = self._widget("together", self._together)
        _check_n(n)
        item = self.items.one(product_id, "product")
        query = _row(np.array([item]), len(self.items))
        exclude = _row_mask(self._mask(item, in_stock, exclude_department))
        ranked, scores = model.related(query, n, exclude)
        sources, own_scores = model.split_scores(scores[0])
        out = []
        for candidate, score, source in zip(ranked[0], own_scores, sources, strict=True):
            if candidate < 0:
                break
            out.append(self._explain_together(model, item, int(candidate), float(score), str(source)))
        return out

    def bundles(
        self, product_id: str, n: int = 3, in_stock: bool = False, exclude_department: bool = False
    ) -> list[dict]:
        """Complete the look: frequent sets of three or more items holding ``product_id`` (a set with a
        filtered-out item is left out)."""
        model = self._widget("together", self._together)
        _check_n(n)
        item = self.items.one(product_id, "product")
        hidden = set(np.flatnonzero(self._mask(item, in_stock, exclude_department)).tolist())
        kept = [b for b in model.bundles(item, model.bundles_.shape[0]) if not hidden & set(b.items)][:n]
        return [
            {
                "product_ids": [str(p) for p in self.items.to_ids(np.array(b.items))],
                "count": b.count,
                "support": b.support,
                "confidence": b.confidence,
                "reason": f"{b.count} baskets held this whole set",
            }
            for b in kept
        ]

    def _explain_together(self, model: TogetherChain, item: int, candidate: int, score: float, source: str):
        pid = str(self.items.ids[candidate])
        if source == "rules":
            rule = model.rules.rule(item, candidate)
            if rule is not None:
                return Recommendation(
                    pid, score, source, rule.reason(), rule.support, rule.confidence, rule.lift, rule.count
                )
        return Recommendation(pid, score, source, self._reason(source, item, candidate))

    def _reason(self, source: str, item: int, candidate: int) -> str:
        row = self.catalogue.row(candidate, named=True)
        query = self.catalogue.row(item, named=True)
        if source == "variants":
            colour = f" in {row['color']}" if row.get("color") else ""
            return f"the same style{colour}"
        if source == "department_pairs":
            return f"shoppers who buy {query['department']} often also buy {row['department']}"
        if source == "department_popular":
            return f"popular in {row['department']}"
        return "popular with shoppers"

    def _mask(self, item: int, in_stock: bool, exclude_department: bool) -> np.ndarray:
        """Items the business filters hide for a query on ``item``."""
        mask = np.zeros(len(self.items), dtype=bool)
        if in_stock and "is_available" in self.catalogue.columns:
            # Unknown availability counts as available: only a known "out of stock" hides an item.
            mask |= (self.catalogue["is_available"] == False).fill_null(False).to_numpy()  # noqa: E712
        if exclude_department and self._together is not None:
            # The model's department codes: the same trimming and the same notion of "no department".
            codes = self._together.department_
            if codes[item] >= 0:
                mask |= codes == codes[item]
        return mask

    @staticmethod
    def _widget(name: str, model):
        if model is None:
            raise NotFoundError(
                f"widget {name!r} is not in these artefacts (train it with `atelier train --only {name}`)"
            )
        return model


def _check_n(n: int) -> None:
    if not 1 <= n <= MAX_N:
        raise InputError(f"n must be between 1 and {MAX_N}, got {n}")


def _row(columns: np.ndarray, width: int) -> sp.csr_matrix:
    """A 1 x width 0/1 row: a query of those items, or the items a filter hides."""
    zeros = np.zeros(len(columns), dtype=np.int64)
    return sp.csr_matrix((np.ones(len(columns)), (zeros, columns)), shape=(1, width))


def _row_mask(mask: np.ndarray) -> sp.csr_matrix | None:
    """The exclusion row of a bool mask (None when nothing is hidden)."""
    return _row(np.flatnonzero(mask), len(mask)) if mask.any() else None


def read_manifest(folder: str | Path) -> dict:
    """The manifest of an artefact folder this version can load; a clear error when the folder is not one."""
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    try:
        present = manifest_path.is_file()
        text = manifest_path.read_text() if present else ""
    except OSError as exc:  # a name too long, a folder this user may not read
        raise InputError(f"{folder}: cannot read manifest.json ({exc.strerror or exc})") from None
    if not present:
        raise InputError(
            f"{folder}: no manifest.json (expected an artefact folder written by `atelier train`)"
        )
    try:
        manifest = json.loads(text)
        manifest["widgets"].keys()
        found_format = manifest.get("format")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(
            f"{manifest_path} is not a valid manifest ({exc}): train the artefacts again"
        ) from None
    if found_format != ARTIFACT_FORMAT:
        raise InputError(
            f"{folder}: artefact format {found_format!r}, this version reads format {ARTIFACT_FORMAT}: train again"
        )
    return manifest


def _load_router(folder: Path, manifest: dict, catalogue: pl.DataFrame) -> PersonalRouter:
    """The Personalized Picks router over the trained methods, the training history and the shoppers."""
    from atelier.config import Settings
    from atelier.features.dataset import Dataset
    from atelier.models import REGISTRY
    from atelier.router import kind_weights

    settings = Settings.model_validate(manifest["settings"])
    data = Dataset.from_tables(
        catalogue,
        pl.read_parquet(folder / "personal" / "users.parquet"),
        pl.read_parquet(folder / "personal" / "interactions.parquet"),
    )
    models = {
        name: REGISTRY[name][0].load(folder / "personal" / name).warm()
        for name in manifest["widgets"]["personal"]
    }
    return PersonalRouter(
        data, models, settings.personal.method, kind_weights(settings.ingest.interaction_rules)
    )
