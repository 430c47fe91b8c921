"""Choosing the hybrid encoder's block weights by evaluation: ``atelier tune-hybrid``.

The fused cosine of two products is the weighted sum of their blocks' cosines divided by the square roots of
each side's present weight (see ``encoders.hybrid``), so every block is encoded (and centred, as the hybrid
centres it) once, and each weight setting on a simplex grid is scored from the same block similarities:
precision@k of neighbours sharing each label, on the same query sample and with the same exclusions (the query,
its colour variants) as ``atelier evaluate``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from atelier.config import Settings
from atelier.encoders.base import Encoder
from atelier.encoders.hybrid import block_mean, prepared_block
from atelier.errors import InputError
from atelier.evaluate.metrics import hits_from_labels
from atelier.evaluate.splits import similar_catalogue
from atelier.features.dataset import Dataset
from atelier.features.items import dense_codes, label_codes
from atelier.index.ranking import BATCH_CELLS, top_k
from atelier.progress import progress


@dataclass(frozen=True)
class WeightScore:
    """Precision@k of one weight setting, per label."""

    weights: dict[str, float]
    precision: dict[str, float]

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.precision.values())))


def weight_grid(blocks: Sequence[str], step: float) -> list[dict[str, float]]:
    """Every weighting of ``blocks`` on the simplex in steps of ``step`` (weights sum to 1; zero drops a block)."""
    if not 0 < step <= 1:
        raise InputError(f"the weight step must be in (0, 1], found {step}")
    units = round(1 / step)
    if not np.isclose(units * step, 1.0) or units < 1:
        raise InputError(f"the weight step must divide 1 (0.05, 0.1, 0.25, ...), found {step}")
    grid = []
    for parts in itertools.product(range(units + 1), repeat=len(blocks)):
        if sum(parts) == units:
            grid.append({b: round(p / units, 6) for b, p in zip(blocks, parts, strict=True)})
    return grid


def tune_hybrid(
    data: Dataset, settings: Settings, parts: Mapping[str, Encoder], step: float = 0.1, centre: bool = True
) -> list[WeightScore]:
    """Precision@k (k = the largest of ``evaluate.k``) of every weight setting, best first by the mean over labels."""
    ev = settings.evaluate
    data = similar_catalogue(data, ev)
    products = data.products
    k = max(ev.k)
    blocks, present = {}, {}
    for name, encoder in parts.items():
        vectors, ok = encoder.fit_encode(products)
        blocks[name], present[name] = prepared_block(vectors, ok, block_mean(vectors, ok) if centre else None)
    labels = {name: label_codes(products, name) for name in ev.similar_labels}
    labelled = np.flatnonzero(data.described_items & np.any([c >= 0 for c in labels.values()], axis=0))
    rng = np.random.default_rng(ev.seed)
    queries = np.sort(rng.choice(labelled, size=min(len(labelled), ev.similar_queries), replace=False))
    groups = dense_codes(products["group_id"])
    grid = weight_grid(list(parts), step)
    hits = {(g, name): 0.0 for g in range(len(grid)) for name in labels}
    judged = {name: int((codes[queries] >= 0).sum()) for name, codes in labels.items()}
    batch = max(1, BATCH_CELLS // max(data.n_items, 1))
    with progress() as bar:
        task = bar.add_task("score weightings", total=len(queries))
        for start in range(0, len(queries), batch):
            q = queries[start : start + batch]
            cosines = {name: _cosines(vectors[q], vectors) for name, vectors in blocks.items()}
            # A product's own row and its colour variants are never its neighbours (as in the served model).
            blocked = np.zeros((len(q), data.n_items), dtype=bool)
            if settings.similar.exclude_variants:
                blocked = (groups[q][:, None] == groups[None, :]) & (groups[q][:, None] >= 0)
            blocked[np.arange(len(q)), q] = True
            for g, weights in enumerate(grid):
                scores = _fused(cosines, present, q, weights)
                scores[blocked] = -np.inf
                recs, _ = top_k(scores, k)
                for name, codes in labels.items():
                    has = codes[q] >= 0
                    hits[g, name] += hits_from_labels(recs[has], codes, codes[q][has]).sum()
            bar.advance(task, len(q))
    results = [
        WeightScore(weights, {name: hits[g, name] / (k * max(judged[name], 1)) for name in labels})
        for g, weights in enumerate(grid)
    ]
    return sorted(results, key=lambda r: -r.mean)


def _cosines(queries, vectors) -> np.ndarray:
    product = queries @ vectors.T
    return np.asarray(product.toarray() if sp.issparse(product) else product, dtype=np.float32)


def _fused(
    cosines: Mapping[str, np.ndarray],
    present: Mapping[str, np.ndarray],
    q: np.ndarray,
    weights: Mapping[str, float],
) -> np.ndarray:
    """Cosines of the fused vectors: sum_b w_b cos_b / sqrt(W_query W_item), W = weight of the present blocks."""
    total = np.zeros_like(next(iter(cosines.values())))
    w_items = np.zeros(total.shape[1], dtype=np.float32)
    w_queries = np.zeros(len(q), dtype=np.float32)
    for name, cos in cosines.items():
        if weights[name] > 0:
            total += weights[name] * cos
            w_items += weights[name] * present[name]
            w_queries += weights[name] * present[name][q]
    norm = np.sqrt(np.outer(w_queries, w_items))
    return np.divide(total, norm, out=np.full_like(total, -np.inf), where=norm > 0)
