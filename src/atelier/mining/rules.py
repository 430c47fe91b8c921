"""Association rules from frequent itemsets: antecedent -> one consequent, with support, confidence and lift.

For every frequent itemset S of two or more items and every item c in S, the rule (S - c) -> c has
support = support(S), confidence = support(S) / support(S - c) and lift = confidence / support(c). Every subset
of a frequent itemset is frequent, so each figure is a lookup, done for all rules at once with one exact join.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from atelier.features.segments import position_in_segment, segment_of
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
    if not (sizes >= 2).any():
        empty_i, empty_f = np.zeros(0, dtype=np.int64), np.zeros(0)
        return Rules(empty_i, np.zeros(1, dtype=np.int64), empty_i, empty_i, empty_f, empty_f, empty_f)
    width = int(sizes.max())
    support_of = _padded(itemsets.items, itemsets.offsets, width).with_columns(
        count=pl.Series(itemsets.counts)
    )
    # One rule per (itemset of size >= 2, item in it): the antecedent is the itemset without that item.
    big = np.flatnonzero(sizes >= 2)
    rule_set = np.repeat(big, sizes[big])
    position = position_in_segment(sizes[big])
    consequent = itemsets.items[itemsets.offsets[rule_set] + position]
    member_set = np.repeat(rule_set, sizes[rule_set])
    member_pos = position_in_segment(sizes[rule_set])
    keep = member_pos != np.repeat(position, sizes[rule_set])
    antecedent_items = itemsets.items[itemsets.offsets[member_set] + member_pos][keep]
    antecedent_sizes = sizes[rule_set] - 1
    antecedent_offsets = np.concatenate([[0], np.cumsum(antecedent_sizes)]).astype(np.int64)

    singles = {
        int(itemsets.items[itemsets.offsets[j]]): int(itemsets.counts[j]) for j in np.flatnonzero(sizes == 1)
    }
    count = itemsets.counts[rule_set]
    # Every subset of a frequent itemset is frequent: an exact join on the padded item columns finds its count.
    antecedents = _padded(antecedent_items, antecedent_offsets, width)
    antecedent_count = antecedents.join(
        support_of, on=antecedents.columns, how="left", maintain_order="left"
    )["count"].to_numpy()
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


def _padded(items: np.ndarray, offsets: np.ndarray, width: int) -> pl.DataFrame:
    """One row per itemset, its sorted items in columns i0..i{width-1}, padded with -1 (an exact join key)."""
    sizes = np.diff(offsets)
    rows, cols = segment_of(sizes), position_in_segment(sizes)
    order = np.lexsort((items, rows))  # items sorted within each itemset
    padded = np.full((len(sizes), width), -1, dtype=np.int64)
    padded[rows, cols] = items[order]
    return pl.DataFrame({f"i{c}": padded[:, c] for c in range(width)})
