"""Association rules from frequent itemsets: antecedent -> one consequent, with support, confidence and lift.

For every frequent itemset S of two or more items and every item c in S, the rule (S - c) -> c has
support = support(S), confidence = support(S) / support(S - c) and lift = confidence / support(c). Every subset
of a frequent itemset is frequent, so each figure is a lookup, done for all rules at once with a hash join.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import polars as pl

from atelier.mining.itemsets import Itemsets


@dataclass(frozen=True, eq=False)
class Rules:
    """Rule r: antecedent ``items[offsets[r]:offsets[r+1]]`` -> ``consequent[r]``, with its figures."""

    antecedent_items: np.ndarray
    antecedent_offsets: np.ndarray
    consequent: np.ndarray
    count: np.ndarray
    support: np.ndarray
    confidence: np.ndarray
    lift: np.ndarray

    def __len__(self) -> int:
        return len(self.consequent)

    def antecedent(self, r: int) -> tuple[int, ...]:
        return tuple(
            int(i) for i in self.antecedent_items[self.antecedent_offsets[r] : self.antecedent_offsets[r + 1]]
        )


def association_rules(itemsets: Itemsets, min_confidence: float = 0.0, min_lift: float = 0.0) -> Rules:
    """Every rule with a single consequent derived from ``itemsets`` passing the thresholds."""
    sizes = itemsets.sizes
    n = max(itemsets.n_baskets, 1)
    key_of = _keys(itemsets.items, itemsets.offsets)
    support_of = pl.DataFrame({"key": key_of, "count": itemsets.counts})
    # One rule per (itemset of size >= 2, item in it): the antecedent is the itemset without that item.
    big = np.flatnonzero(sizes >= 2)
    rule_set = np.repeat(big, sizes[big])
    position = np.concatenate([np.arange(s) for s in sizes[big]]) if len(big) else np.zeros(0, np.int64)
    consequent = itemsets.items[itemsets.offsets[rule_set] + position]
    member_set = np.repeat(rule_set, sizes[rule_set])
    member_pos = (
        np.concatenate([np.arange(s) for s in sizes[rule_set]]) if len(rule_set) else np.zeros(0, np.int64)
    )
    keep = member_pos != np.repeat(position, sizes[rule_set])
    antecedent_items = itemsets.items[itemsets.offsets[member_set] + member_pos][keep]
    antecedent_sizes = sizes[rule_set] - 1
    antecedent_offsets = np.concatenate([[0], np.cumsum(antecedent_sizes)]).astype(np.int64)
    antecedent_keys = _keys(antecedent_items, antecedent_offsets)
    singles = {
        int(itemsets.items[itemsets.offsets[j]]): int(itemsets.counts[j]) for j in np.flatnonzero(sizes == 1)
    }
    count = itemsets.counts[rule_set]
    antecedent_count = (
        pl.DataFrame({"key": antecedent_keys})
        .join(support_of, on="key", how="left", maintain_order="left")["count"]
        .to_numpy()
    )
    consequent_count = np.array([singles[int(c)] for c in consequent], dtype=np.float64)
    confidence = count / antecedent_count
    lift = confidence / (consequent_count / n)
    ok = (confidence >= min_confidence) & (lift >= min_lift)
    kept_sizes = antecedent_sizes[ok]
    member_ok = np.repeat(ok, antecedent_sizes)
    return Rules(
        antecedent_items=antecedent_items[member_ok],
        antecedent_offsets=np.concatenate([[0], np.cumsum(kept_sizes)]).astype(np.int64),
        consequent=consequent[ok],
        count=count[ok],
        support=count[ok] / n,
        confidence=confidence[ok],
        lift=lift[ok],
    )


def _keys(items: np.ndarray, offsets: np.ndarray) -> list[str]:
    """A hashable key per itemset (its sorted ids joined)."""
    return [" ".join(map(str, sorted(items[a:b].tolist()))) for a, b in itertools.pairwise(offsets)]
