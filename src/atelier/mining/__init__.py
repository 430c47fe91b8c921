"""Frequent itemset mining: FP-Growth (compiled with numba), Apriori (the reference), and rules from itemsets."""

from atelier.mining.apriori import apriori
from atelier.mining.fpgrowth import fpgrowth
from atelier.mining.itemsets import Itemsets, min_count_for
from atelier.mining.rules import Rules, association_rules

__all__ = ["Itemsets", "Rules", "apriori", "association_rules", "fpgrowth", "min_count_for"]
