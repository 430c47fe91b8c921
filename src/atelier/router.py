"""Personalized Picks as a shop serves them: the seeds' ``process_user`` router, live events, and reasons.

Who the shopper is decides the source:

1. ``known``: a shopper with interactions in the training data gets the configured method, fed with their
   history plus any live events since;
2. ``new_with_events``: a shopper with live events only gets ``item_cf`` from those events;
3. ``demographics``: a shopper known only by age group and region gets what is popular in that segment;
4. ``nothing``: anyone else gets what is popular lately.

Events logged through ``log_interaction`` change the shopper's next list at once, without retraining. Every
item carries its source and a reason; filters (leave out what was bought, in stock only, one department) apply
to every path alike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import numpy as np
import polars as pl
import scipy.sparse as sp

from atelier.errors import InputError, NotFoundError
from atelier.features.dataset import Dataset
from atelier.features.user_items import POPULARITY_PAD
from atelier.models.base import Recommender
from atelier.models.popular import SegmentPopular, segment_key
from atelier.recommendation import MAX_N, Recommendation

PATH_MODELS = ("item_cf", "popular_segment", "popular_recent")
# List entries scored no higher than the popularity pad came from popularity, not from the method.
PAD_CEILING = 2 * POPULARITY_PAD
METHOD_REASONS = {
    "user_cf": "shoppers like you bought it",
    "item_cf": "bought by shoppers who bought what you looked at",
    "profile": "close to your style",
    "history": "you bought it before",
    "two_tower": "picked for you from your style and shoppers like you",
}


class PersonalRouter:
    """Routes each shopper to a source; ``models`` are fitted on ``data`` and hold ``method`` and PATH_MODELS."""

    def __init__(
        self, data: Dataset, models: Mapping[str, Recommender], method: str, kind_weights: Mapping[str, float]
    ):
        missing = [m for m in (method, *PATH_MODELS) if m not in models]
        if missing:
            raise InputError(f"the router needs the models {', '.join(missing)} (fit them on the same data)")
        self.data = data
        self.models = dict(models)
        self.method = method
        self.kind_weights = dict(kind_weights)
        # Read once: every request's reasons look up groups and titles.
        self.groups = data.products["group_id"].to_numpy()
        self.titles = data.products["title"].to_list()
        self.bought = _kind_matrix(data, "purchase")
        self.live: dict[str, dict[int, float]] = defaultdict(dict)
        self.live_bought: dict[str, set[int]] = defaultdict(set)
        catalogue = data.products
        self.in_stock = (
            catalogue["is_available"].fill_null(True).to_numpy()
            if "is_available" in catalogue.columns
            else None
        )

    def log_interaction(self, user_id: str, product_id: str, kind: str = "view") -> None:
        """Record a live event (the seeds' ``log_user_interaction``): it counts for the shopper's next request."""
        item = self.check_interaction(product_id, kind)
        self.live[user_id][item] = self.live[user_id].get(item, 0.0) + self.kind_weights[kind]
        if kind == "purchase":
            self.live_bought[user_id].add(item)

    def check_interaction(self, product_id: str, kind: str) -> int:
        """The item of a valid event; raises what a bad one is (unknown kind or product), changing nothing."""
        if kind not in self.kind_weights:
            raise InputError(
                f"unknown interaction kind {kind!r} (expected one of {', '.join(self.kind_weights)})"
            )
        if product_id not in self.data.items:
            raise NotFoundError(f"unknown product {product_id!r}")
        return self.data.items.one(product_id)

    def recommend(
        self,
        user_id: str | None,
        n: int = 10,
        demographics: Mapping[str, str | None] | None = None,
        exclude_bought: bool = True,
        in_stock: bool = False,
        department: str | None = None,
        method: str | None = None,
    ) -> tuple[str, list[Recommendation]]:
        """(the path taken, the picks best first) for a shopper id (or None) and optional demographics;
        ``method`` overrides the configured one for a known shopper."""
        method = method or self.method
        if method not in self.models:
            raise NotFoundError(f"unknown method {method!r} (trained: {', '.join(self.models)})")
        if not 1 <= n <= MAX_N:
            raise InputError(f"n must be between 1 and {MAX_N}, got {n}")
        user = self.data.users.one(user_id) if user_id is not None and user_id in self.data.users else None
        trained = user is not None and bool(self.data.active_users[user])
        live = self._live_row(user_id)
        exclude = self._exclusions(user, user_id, exclude_bought, in_stock, department)
        if trained:
            # The method's own training row (its weights and half-life), plus what happened since.
            rows = self.models[method].matrix_[user] + live
            items, scores = self.models[method].recommend_rows(rows, n, exclude, users=np.array([user]))
            bought = set(self.bought[user].indices.tolist()) | self.live_bought.get(user_id or "", set())
            # history pads with what is popular in the shopper's segment, the other methods with overall popularity
            key = segment_key(self._demographics(user, None)) if method == "history" else ""
            padding = _segment_reason(key) if key else "popular with shoppers overall"
            return "known", self._picks(items[0], scores[0], method, rows, bought, padding)
        if live.nnz:
            items, scores = self.models["item_cf"].recommend_rows(live, n, exclude)
            return "new_with_events", self._picks(items[0], scores[0], "item_cf", live)
        known = self._demographics(user, demographics)
        if any(v is not None for v in known.values()):
            segment_model: SegmentPopular = self.models["popular_segment"]  # type: ignore[assignment]
            items, scores, key = segment_model.recommend_segment(known, self.data.n_items)
            if key:
                return "demographics", self._filtered(
                    items, scores, exclude, n, "popular_segment", _segment_reason(key)
                )
        items, scores = self.models["popular_recent"].recommend(np.array([0]), self.data.n_items)
        return "nothing", self._filtered(items[0], scores[0], exclude, n, "popular_recent", "popular lately")

    # -- helpers ---------------------------------------------------------------------------------------------------
    def _live_row(self, user_id: str | None) -> sp.csr_matrix:
        events = self.live.get(user_id or "", {})
        cols = np.fromiter(events.keys(), dtype=np.int64, count=len(events))
        vals = np.fromiter(events.values(), dtype=np.float32, count=len(events))
        return sp.csr_matrix(
            (vals, (np.zeros(len(cols), dtype=np.int64), cols)), shape=(1, self.data.n_items)
        )

    def _exclusions(self, user, user_id, exclude_bought, in_stock, department) -> sp.csr_matrix:
        banned = np.zeros(self.data.n_items, dtype=bool)
        if exclude_bought:
            if user is not None:
                banned[self.bought[user].indices] = True
            banned[list(self.live_bought.get(user_id or "", ()))] = True
        if in_stock and self.in_stock is not None:
            banned |= ~self.in_stock
        if department is not None:
            banned |= (self.data.products["department"] != department).fill_null(True).to_numpy()
        return sp.csr_matrix(banned[None, :].astype(np.float32))

    def _demographics(self, user, given) -> dict[str, str | None]:
        known: dict[str, str | None] = dict.fromkeys(self.models["popular_segment"].columns)
        if user is not None:
            row = self.data.users_table.row(user, named=True)
            known |= {k: row.get(k) for k in known}
        if given:
            known |= {k: v for k, v in given.items() if v is not None}
        return known

    def _filtered(self, items, scores, exclude, n, source, reason) -> list[Recommendation]:
        keep = (items >= 0) & (exclude[0, np.clip(items, 0, None)].toarray()[0] == 0)
        picks = [(int(i), float(s)) for i, s in zip(items[keep], scores[keep], strict=True)][:n]
        return [Recommendation(self.data.items.ids[i], s, source, reason) for i, s in picks]

    def _picks(
        self,
        items,
        scores,
        method,
        rows,
        bought: set[int] | None = None,
        padding: str = "popular with shoppers overall",
    ) -> list[Recommendation]:
        own = set(rows.indices.tolist())
        groups, titles = self.groups, self.titles
        own_groups = {groups[i] for i in own}
        padded = self.models[method].pads_with_popularity
        out = []
        for item, score in zip(items, scores, strict=True):
            if item < 0:
                break
            if padded and score <= PAD_CEILING:
                source, reason = "popular", padding
            elif method == "history" and item not in own and groups[item] in own_groups:
                source, reason = (
                    "history",
                    f"another colour of {_title_in_group(titles, groups, own, groups[item])}",
                )
            elif method == "history":
                bought_before = item in (bought or set())
                source, reason = (
                    "history",
                    "you bought it before" if bought_before else "you looked at it lately",
                )
            else:
                source, reason = method, METHOD_REASONS.get(method, "picked for you")
            out.append(Recommendation(self.data.items.ids[item], float(score), source, reason))
        return out


def _kind_matrix(data: Dataset, kind: str) -> sp.csr_matrix:
    rows = data.interactions.filter(pl.col("kind") == kind)
    m = sp.csr_matrix(
        (np.ones(rows.height, dtype=np.float32), (rows["user"].to_numpy(), rows["item"].to_numpy())),
        shape=(data.n_users, data.n_items),
    )
    m.sum_duplicates()
    return m


def _segment_reason(key: str) -> str:
    values = dict(part.split("=", 1) for part in key.split("\x1f"))
    if "age_group" in values and "region" in values:
        return f"popular with {values['age_group']} in {values['region']}"
    return f"popular with {' / '.join(values.values())}"


def _title_in_group(titles, groups, own: set[int], group) -> str:
    for i in own:
        if groups[i] == group:
            return titles[i] or "something you bought"
    return "something you bought"


def kind_weights(rules) -> dict[str, float]:
    """Weight of each interaction kind from the ingest rules (the largest when several rules name a kind)."""
    weights: dict[str, float] = {}
    for rule in rules:
        weights[rule.kind] = max(weights.get(rule.kind, 0.0), float(rule.weight))
    return weights
