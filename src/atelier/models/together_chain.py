"""Top Picks Together as a chain of sources, so a shopper never sees a short list:

1. ``rules`` — partners from pair rules (see :mod:`atelier.models.together`);
2. ``variants`` — other colours / variants of the query items (same ``group_id``: TwentyToo parent product,
   H&M product code), most popular first; on fashion data shoppers often buy one style in two colours;
3. ``department_pairs`` — items of the departments bought together with the query items' departments
   (department-level rules), weighted by the department rule's confidence and the item's popularity;
4. ``department_popular`` — what is popular in the query items' own departments;
5. ``popular`` — what is popular overall, so the list is always full.

Every item carries the source that produced it. Sources are tiers: an item is ranked by the first source (in
``sources`` order) that offers it, then by that source's own score; the combined score encodes both (each
source's non-negative score squashed into [0, 1) by s / (1 + s), which keeps its order), so the shared top-k
machinery of :class:`~atelier.models.base.Recommender` ranks the chain like any other model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from atelier.features.dataset import Dataset
from atelier.features.items import codes_in_queries, dense_codes, label_codes, shares_code
from atelier.mining.fpgrowth import fpgrowth
from atelier.models.base import Recommender
from atelier.models.together import PairRules


@dataclass(frozen=True)
class Bundle:
    """A "complete the look" set: the other items of a frequent itemset holding the query item."""

    items: tuple[int, ...]
    count: int
    support: float
    confidence: float  # share of the query item's baskets that hold the whole set


SOURCES = ("rules", "variants", "department_pairs", "department_popular", "popular")
TIER = 2.0  # each tier's scores lie in [0, 1); tiers are TIER apart


class TogetherChain(Recommender):
    """Pair rules, then variants, then department complements, then departmental and overall popularity."""

    name = "chain"
    widgets = frozenset({"together"})

    def __init__(
        self,
        rules: PairRules | dict | None = None,
        sources: Sequence[str] = SOURCES,
        bundle_min_count: int = 3,
        bundle_max_size: int = 4,
    ):
        unknown = set(sources) - set(SOURCES)
        if unknown:
            raise ValueError(
                f"unknown together sources {sorted(unknown)} (expected some of {', '.join(SOURCES)})"
            )
        # Settings of the rules may come as a dict (from a saved model.json).
        self.rules = PairRules(**rules) if isinstance(rules, dict) else (rules or PairRules())
        self.sources = tuple(sources)
        self.bundle_min_count = bundle_min_count
        self.bundle_max_size = bundle_max_size

    def get_params(self) -> dict:
        return super().get_params() | {"rules": self.rules.get_params(), "sources": list(self.sources)}

    def save(self, folder: str | Path) -> Path:
        """The chain's own state, and the fitted rules in ``folder/rules``."""
        path = super().save(folder)
        self.rules.save(Path(folder) / "rules")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> TogetherChain:
        """A chain saved by ``save``, its rules included."""
        model = super().load(folder)
        model.rules = PairRules.load(Path(folder) / "rules")
        return model

    def _fit(self, data: Dataset) -> None:
        baskets = self.rules.baskets(data)  # built once, shared with the rules
        self.rules.fit_baskets(baskets, data)
        # Popularity counts every bag / purchase, also of items only ever bought alone.
        bought = data.interactions.filter(pl.col("kind").is_in(list(self.rules.kinds)))
        per_item = bought.select("user", "item").unique().group_by("item").len()
        counts = np.zeros(data.n_items)
        counts[per_item["item"].to_numpy()] = per_item["len"].to_numpy()
        self.popularity_ = counts / (counts.max(initial=0) + 1.0)  # in [0, 1)
        self.group_ = dense_codes(data.products["group_id"])
        self.department_ = label_codes(data.products, "department")
        self.department_rules_ = _department_confidence(baskets.matrix, self.department_)
        self.item_baskets_ = baskets.item_counts
        # "Complete the look": itemsets of three or more items, mined with FP-Growth.
        itemsets = fpgrowth(
            baskets.matrix, self.bundle_min_count / max(baskets.n_baskets, 1), max_len=self.bundle_max_size
        )
        large = itemsets.sizes >= 3
        self.bundles_ = itemsets.matrix(data.n_items)[large]
        self.bundle_counts_ = itemsets.counts[large]

    def bundles(self, item: int, n: int = 3) -> list[Bundle]:
        """The best larger itemsets holding ``item``: most baskets first (then the larger ones)."""
        self._check_fitted()
        holding = self.bundles_[:, item].nonzero()[0]
        if len(holding) == 0:
            return []
        sizes = np.diff(self.bundles_.indptr)[holding]
        order = holding[np.lexsort((-sizes, -self.bundle_counts_[holding]))][:n]
        out = []
        for b in order:
            members = self.bundles_.indices[self.bundles_.indptr[b] : self.bundles_.indptr[b + 1]]
            count = int(self.bundle_counts_[b])
            out.append(
                Bundle(
                    items=tuple(int(i) for i in members if i != item),
                    count=count,
                    support=count / max(self.rules.n_baskets_, 1),
                    confidence=count / max(int(self.item_baskets_[item]), 1),
                )
            )
        return out

    # -- scoring -------------------------------------------------------------------------------------------------
    def _score_queries(self, queries: sp.csr_matrix) -> np.ndarray:
        combined = np.full(queries.shape, -np.inf)
        for tier, source in enumerate(self.sources):
            scores = getattr(self, f"_{source}")(queries)
            base = TIER * (len(self.sources) - tier)
            np.maximum(
                combined,
                np.where(np.isfinite(scores), base + _squash(scores), -np.inf),
                out=combined,
            )
        return combined

    def split_scores(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(source name, that source's own score) behind each combined score (None, nan for padding)."""
        scores = np.asarray(scores)
        finite = np.where(np.isfinite(scores), scores, 0.0)
        tier = len(self.sources) - np.floor(finite / TIER).astype(np.int64)
        names = np.array([*self.sources, None], dtype=object)
        sources = np.where(np.isfinite(scores), names[np.clip(tier, 0, len(self.sources))], None)
        squashed = finite - TIER * (len(self.sources) - tier)
        with np.errstate(divide="ignore", invalid="ignore"):
            own = np.where(np.isfinite(scores), squashed / (1.0 - squashed), np.nan)
        return sources, own

    def _rules(self, queries: sp.csr_matrix) -> np.ndarray:
        return self.rules._score_queries(queries)

    def _variants(self, queries: sp.csr_matrix) -> np.ndarray:
        # A variant never sold still belongs: the catalogue knows it. Sold ones first.
        return np.where(shares_code(queries, self.group_), 0.5 + 0.5 * self.popularity_, -np.inf)

    def _department_pairs(self, queries: sp.csr_matrix) -> np.ndarray:
        wanted = self._query_departments(queries) @ self.department_rules_  # queries x departments
        return self._by_department(wanted)

    def _department_popular(self, queries: sp.csr_matrix) -> np.ndarray:
        return self._by_department(self._query_departments(queries))

    def _popular(self, queries: sp.csr_matrix) -> np.ndarray:
        scores = np.where(self.popularity_ > 0, self.popularity_, -np.inf)
        return np.tile(scores, (queries.shape[0], 1))

    def _query_departments(self, queries: sp.csr_matrix) -> np.ndarray:
        return codes_in_queries(queries, self.department_).astype(np.float64)

    def _by_department(self, weights: np.ndarray) -> np.ndarray:
        """Item scores: the weight of the item's department times its popularity (sold items only)."""
        has_department = self.department_ >= 0
        per_item = np.zeros((weights.shape[0], len(self.department_)))
        if weights.shape[1]:
            per_item[:, has_department] = weights[:, self.department_[has_department]]
        top = per_item.max(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            scores = per_item / np.where(top > 0, top, 1.0) * self.popularity_
        return np.where((per_item > 0) & (self.popularity_ > 0), scores, -np.inf)


def _squash(scores: np.ndarray) -> np.ndarray:
    """Non-negative scores into [0, 1), order kept (s / (1 + s)), so a tier never spills into the next."""
    s = np.clip(scores, 0.0, None)
    return s / (1.0 + s)


def _department_confidence(baskets: sp.csr_matrix, departments: np.ndarray) -> np.ndarray:
    """Departments x departments: confidence of "bought in X -> also bought in Y" (lift above 1; X -> X dropped)."""
    n_departments = int(departments.max(initial=-1)) + 1
    if n_departments == 0 or baskets.shape[0] == 0:
        return np.zeros((n_departments, n_departments))
    items = np.flatnonzero(departments >= 0)
    to_department = sp.csr_matrix(
        (np.ones(len(items)), (items, departments[items])), shape=(baskets.shape[1], n_departments)
    )
    holds = (baskets @ to_department) > 0  # baskets x departments
    holds = holds.astype(np.float64)
    together = (holds.T @ holds).toarray()
    per_department = np.diag(together).copy()
    n = baskets.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = together / per_department[:, None]
        lift = confidence / (per_department[None, :] / n)
    confidence = np.where(np.isfinite(lift) & (lift > 1.0), confidence, 0.0)
    np.fill_diagonal(confidence, 0.0)
    return np.nan_to_num(confidence)
