"""What a protocol measures and how it becomes report rows: means with bootstrap errors, paired comparisons."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import scipy.sparse as sp

from atelier.evaluate.metrics import (
    RANKING,
    Bootstrap,
    Estimate,
    coverage,
    diversity,
    novelty,
    ranking_metrics,
)

MetricKey = tuple[str, int]


@dataclass
class Population:
    """Every method's per-query values on one set of queries (warm users, cold users, baskets, items)."""

    widget: str
    name: str
    ks: list[int]
    n_candidates: int
    bootstrap: Bootstrap
    values: dict[str, dict[MetricKey, np.ndarray]] = field(default_factory=dict)
    coverage: dict[str, dict[int, Estimate]] = field(default_factory=dict)
    #: query -> segment label (e.g. age group), for the by-segment tables
    segments: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_queries(self) -> int:
        return self.bootstrap.n

    def add(
        self,
        method: str,
        recs: np.ndarray,
        hits: np.ndarray,
        n_relevant: np.ndarray,
        info: np.ndarray | None = None,
        features: sp.csr_matrix | None = None,
    ) -> None:
        """Score one method's ranked lists (``recs``) given its hit matrix."""
        per_query = ranking_metrics(hits, n_relevant, self.ks)
        self.coverage[method] = {}
        for k in self.ks:
            if info is not None:
                per_query["novelty", k] = novelty(recs, info, k)
            if features is not None and features.shape[1]:
                per_query["diversity", k] = diversity(recs, features, k)
            value = float(coverage(recs, k, self.n_candidates)[0])
            se = float("nan")
            if self.n_queries > 1:  # one query has no spread to resample
                se = float(np.std(coverage(recs, k, self.n_candidates, self.bootstrap.weights), ddof=1))
            self.coverage[method][k] = Estimate(value, se, self.n_queries)
        self.values[method] = per_query


@dataclass(frozen=True)
class Row:
    """One figure of the report: a method's metric at k on a population (or one segment of it)."""

    widget: str
    method: str
    population: str
    segment: str
    metric: str
    k: int
    value: float
    se: float
    n_users: int


@dataclass(frozen=True)
class Comparison:
    """A method against the baseline on the same queries: the mean paired difference and its error."""

    widget: str
    method: str
    baseline: str
    population: str
    metric: str
    k: int
    diff: float
    se: float
    n_users: int

    @property
    def verdict(self) -> str:
        """ "better" / "worse" when the difference exceeds two standard errors, else "noise"."""
        if not np.isfinite(self.diff) or not np.isfinite(self.se) or abs(self.diff) <= 2 * self.se:
            return "noise"
        return "better" if self.diff > 0 else "worse"

    def as_dict(self) -> dict:
        return asdict(self) | {"verdict": self.verdict}


def summarize(pop: Population, baseline: str, segment_seed: int) -> tuple[list[Row], list[Comparison]]:
    """Rows for every method, metric and k (and segment), and comparisons of each method with ``baseline``."""
    rows: list[Row] = []
    comparisons: list[Comparison] = []
    for method, per_query in pop.values.items():
        for (metric, k), values in per_query.items():
            est = pop.bootstrap.estimate(values)
            rows.append(Row(pop.widget, method, pop.name, "all", metric, k, est.value, est.se, est.n))
            if method != baseline and baseline in pop.values:
                diff = pop.bootstrap.paired(values, pop.values[baseline][metric, k])
                comparisons.append(
                    Comparison(pop.widget, method, baseline, pop.name, metric, k, diff.value, diff.se, diff.n)
                )
        for k, est in pop.coverage[method].items():
            rows.append(Row(pop.widget, method, pop.name, "all", "coverage", k, est.value, est.se, est.n))
        rows.extend(_segment_rows(pop, method, segment_seed))
    return rows, comparisons


def _segment_rows(pop: Population, method: str, seed: int) -> list[Row]:
    rows: list[Row] = []
    n_resamples = pop.bootstrap.n_resamples
    for column, labels in pop.segments.items():
        for label in sorted({str(v) for v in labels}):
            members = np.flatnonzero(labels.astype(str) == label)
            boot = Bootstrap(len(members), n_resamples, seed)
            for (metric, k), values in pop.values[method].items():
                if metric not in RANKING:
                    continue
                est = boot.estimate(values[members])
                segment = f"{column}={label}"
                rows.append(Row(pop.widget, method, pop.name, segment, metric, k, est.value, est.se, est.n))
    return rows
