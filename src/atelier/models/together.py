"""Top Picks Together from pair rules: for every pair of items bought together, how often and how surely.

For items a and b over N baskets: count = baskets holding both, support = count / N, confidence(a -> b) =
count / baskets holding a, lift = confidence(a -> b) / (baskets holding b / N) — how many times more often the
pair is bought together than chance would have it. Every co-bought pair is counted at once with one sparse
product (baskets^T baskets, :mod:`atelier.mining.pairs`); rules below the thresholds are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from atelier.features.baskets import Baskets, build_baskets, shoppers_together
from atelier.features.dataset import Dataset
from atelier.mining.pairs import pair_rules
from atelier.models.base import Recommender


@dataclass(frozen=True)
class PairRule:
    """The figures behind "a is recommended with b"."""

    count: int
    shoppers: int
    support: float
    confidence: float
    lift: float

    def reason(self) -> str:
        """A plain explanation, e.g. "17 shoppers bought both together; 3.2x more often than by chance"."""
        who = f"{self.shoppers} shopper{'s' if self.shoppers != 1 else ''} bought both together"
        return f"{who}; {self.lift:.1f}x more often than by chance"


class PairRules(Recommender):
    """Partners of the query items ranked by ``rank_by`` (confidence or lift) among rules passing the thresholds.

    A basket query sums the scores its items give each candidate.
    """

    name = "pairs"
    widgets = frozenset({"together"})

    def __init__(
        self,
        kinds: Sequence[str] = ("bag", "purchase"),
        basket_by: str = "session",
        max_basket_size: int = 50,
        min_count: int = 2,
        min_shoppers: int = 1,
        min_support: float = 0.0,
        min_confidence: float = 0.0,
        min_lift: float = 1.0,
        rank_by: str = "confidence",
    ):
        self.kinds = tuple(kinds)
        self.basket_by = basket_by
        self.max_basket_size = max_basket_size
        if basket_by not in ("session", "day"):
            raise ValueError(f"basket_by must be 'session' or 'day', got {basket_by!r}")
        if rank_by not in ("confidence", "lift"):
            raise ValueError(f"rank_by must be 'confidence' or 'lift', got {rank_by!r}")
        self.min_count = min_count
        self.min_shoppers = min_shoppers
        self.min_support = min_support
        self.min_confidence = min_confidence
        self.min_lift = min_lift
        self.rank_by = rank_by

    def baskets(self, data: Dataset) -> Baskets:
        """The baskets these settings make of ``data``."""
        return build_baskets(data, self.kinds, self.basket_by, self.max_basket_size)  # type: ignore[arg-type]

    def fit_baskets(self, baskets: Baskets, data: Dataset) -> PairRules:
        """``fit`` from baskets already built (the together chain shares them); returns self."""
        self._learn(baskets, data.n_items)
        return self._fitted_on(data)

    def _fit(self, data: Dataset) -> None:
        self._learn(self.baskets(data), data.n_items)

    def _learn(self, baskets: Baskets, n_items: int) -> None:
        n = max(baskets.n_baskets, 1)
        table = pair_rules(baskets.matrix)
        a = table.antecedents()
        b, count = table.count.indices, table.count.data.astype(np.float64)
        confidence, lift = table.confidence.astype(np.float64), table.lift.astype(np.float64)
        keep = (
            (a != b)
            & (count >= self.min_count)
            & (count / n >= self.min_support)
            & (confidence >= self.min_confidence)
            & (lift > self.min_lift)
        )
        shoppers = shoppers_together(baskets)
        if self.min_shoppers > 1:
            keep &= np.asarray(shoppers[a, b]).ravel() >= self.min_shoppers
        a, b, count, confidence, lift = a[keep], b[keep], count[keep], confidence[keep], lift[keep]
        shape = (n_items, n_items)
        self.count_ = sp.csr_matrix((count, (a, b)), shape=shape)
        self.shoppers_ = shoppers.multiply(self.count_ > 0).tocsr()
        self.confidence_ = sp.csr_matrix((confidence, (a, b)), shape=shape)
        self.lift_ = sp.csr_matrix((lift, (a, b)), shape=shape)
        self.n_baskets_ = baskets.n_baskets
        self.n_single_baskets_ = baskets.n_single
        self.n_oversized_baskets_ = baskets.n_oversized
        primary = confidence if self.rank_by == "confidence" else lift
        # The count breaks ties of the primary figure (small counts make many equal confidences).
        self.score_ = sp.csr_matrix(
            (primary + 1e-6 * count / (count.max(initial=0) + 1), (a, b)), shape=shape
        )

    def _score_queries(self, queries: sp.csr_matrix) -> np.ndarray:
        scores = (queries @ self.score_).toarray()
        scores[scores <= 0] = -np.inf
        return scores

    def rule(self, a: int, b: int) -> PairRule | None:
        """The rule a -> b (item indices), or None when it did not pass the thresholds."""
        self._check_fitted()
        count = self.count_[a, b]
        if count == 0:
            return None
        return PairRule(
            count=int(count),
            shoppers=int(self.shoppers_[a, b]),
            support=float(count / max(self.n_baskets_, 1)),
            confidence=float(self.confidence_[a, b]),
            lift=float(self.lift_[a, b]),
        )

    @property
    def n_rules(self) -> int:
        """Directed rules kept."""
        self._check_fitted()
        return int(self.count_.nnz)
