"""One protocol per widget, each asking the models through the same ``recommend`` / ``related`` calls that serve
shoppers:

- personal: each test user's items after the split, ranked among the items seen in training (the user's own
  training items excluded); warm users (with training history) and cold users (without) are separate populations;
- together: in each held-out basket with at least two known items one item is hidden, and the others are the query;
- similar: for a sample of catalogue items, how many of the k neighbours share a label (department, colour, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import polars as pl
import scipy.sparse as sp

from atelier.config import EvaluateSettings
from atelier.evaluate.metrics import Bootstrap, hits_from_labels, hits_from_truth, self_information
from atelier.evaluate.results import Population
from atelier.evaluate.splits import Split
from atelier.features.dataset import Dataset
from atelier.features.items import label_codes, one_hot
from atelier.features.segments import position_in_segment, segment_of
from atelier.models.base import Recommender

Notes = list[str]
Step = Callable[[str], None]  # called once per model ranked, for progress bars


def _noop(_: str) -> None:
    return None


def personal(
    split: Split, models: Mapping[str, Recommender], settings: EvaluateSettings, step: Step = _noop
) -> tuple[list[Population], Notes]:
    """Rank unseen items for every test user; warm and cold users reported apart."""
    train = split.train
    test = split.test.filter(pl.col("kind").is_in(settings.truth_kinds))
    notes: Notes = []
    pairs = test.select("user", "item").unique()
    n_test_users = pairs["user"].n_unique()
    known_pairs = pairs.filter(_is_known(train.active_items))
    if known_pairs.height < pairs.height:
        notes.append(
            f"{pairs.height - known_pairs.height:,} of {pairs.height:,} test (user, item) pairs name items unseen "
            "in training, which no method that learns from training can recommend: left out of the truth"
        )
    truth = _matrix(known_pairs, train.n_users, train.n_items)
    if settings.exclude_seen:
        truth = truth - truth.multiply(train.binary)
        truth.eliminate_zeros()
    n_relevant = np.diff(truth.indptr)
    users = np.flatnonzero(n_relevant > 0)
    lost = n_test_users - len(users)
    if lost:
        notes.append(
            f"{lost:,} of {n_test_users:,} test users are left out: after the split they only touched items "
            f"unseen in training{' or items they already had' if settings.exclude_seen else ''}"
        )
    warm = users[train.active_users[users]]
    cold = users[~train.active_users[users]]
    ks, k_max = settings.k, max(settings.k)
    info = self_information(train.item_users, int(train.active_users.sum()))
    features = one_hot(train.products, settings.similar_labels)
    groups = {"warm users": warm, "cold users": cold}
    populations = {
        name: Population(
            "personal", name, ks, int(train.active_items.sum()), _bootstrap(len(group), settings, name)
        )
        for name, group in groups.items()
    }
    for name, pop in populations.items():
        pop.segments = _segments(train, groups[name], settings.segments)
    for method, model in models.items():
        for name, group in groups.items():
            if name == "cold users" and not model.handles_cold_users:
                continue
            exclude = train.binary[group] if settings.exclude_seen and name == "warm users" else None
            recs, _ = model.recommend(group, k_max, exclude)
            populations[name].add(
                method, recs, hits_from_truth(recs, truth[group]), n_relevant[group], info, features
            )
        step(method)
    if len(cold):
        notes.append(f"{len(cold):,} test users had no training history (cold users, reported apart)")
    return list(populations.values()), notes


def basket_training_data(split: Split, settings: EvaluateSettings) -> Dataset:
    """What the together models learn from: the training interactions of the basket kinds, less every session
    that also has test rows (a split by time or by user can cut a basket in two; its first half must not teach
    the model the pair it is then asked for)."""
    train = split.train.interactions.filter(pl.col("kind").is_in(settings.basket_kinds))
    held = split.test.select("user", "session_id").unique()
    train = train.join(held, on=["user", "session_id"], how="anti", nulls_equal=True)
    return split.train.with_interactions(train)


def together(
    split: Split,
    models: Mapping[str, Recommender],
    settings: EvaluateSettings,
    step: Step = _noop,
) -> tuple[list[Population], Notes]:
    """Hide each item of each held-out basket in turn and ask for it from the rest of the basket.

    Every hidden item counts, also one never bought in training: a method that knows the catalogue (another
    colour of a basket item) can still find it, and leaving it out would flatter the methods that cannot.
    Standard errors resample whole baskets.
    """
    train = basket_training_data(split, settings)
    notes: Notes = []
    rows = split.test.filter(pl.col("kind").is_in(settings.basket_kinds))
    baskets = (
        rows.select("user", "session_id", "item")
        .unique()
        .group_by("user", "session_id")
        .agg(pl.col("item").sort())
        .filter(pl.col("item").list.len() >= 2)
        .sort("user", "session_id")
    )
    if baskets.height:
        # Large tests are sampled by whole baskets, up to about max_basket_queries hidden items.
        sizes = baskets["item"].list.len().to_numpy()
        order = np.random.default_rng(settings.seed).permutation(baskets.height)
        kept = np.sort(
            order[: int(np.searchsorted(np.cumsum(sizes[order]), settings.max_basket_queries)) + 1]
        )
        if len(kept) < baskets.height:
            notes.append(f"{len(kept):,} of {baskets.height:,} held-out baskets sampled")
            baskets = baskets[kept]
    sizes = (
        baskets["item"].list.len().to_numpy().astype(np.int64) if baskets.height else np.zeros(0, np.int64)
    )
    items = (
        baskets["item"].explode(empty_as_null=False).to_numpy() if baskets.height else np.zeros(0, np.int64)
    )
    # One query per (basket, hidden item): the basket's other items.
    basket_of_item = segment_of(sizes)
    query_basket = np.repeat(basket_of_item, sizes[basket_of_item])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    member = starts[query_basket] + position_in_segment(sizes[basket_of_item])
    query_of = segment_of(sizes[basket_of_item])  # query j hides item j
    keep = items[member] != items[query_of]
    query_of = query_of[keep]
    n = len(items)
    queries = sp.csr_matrix(
        (np.ones(len(query_of)), (query_of, items[member][keep])), shape=(n, train.n_items)
    )
    truth = sp.csr_matrix((np.ones(n), (np.arange(n), items)), shape=(n, train.n_items))
    unseen = int((~train.active_items[items]).sum()) if n else 0
    notes.append(
        f"{n:,} hidden items in {len(sizes):,} held-out baskets of at least 2 items; "
        f"{unseen:,} of them were never in a training basket"
    )
    pop = Population(
        "together",
        "baskets",
        settings.k,
        int(train.n_items),
        _bootstrap(n, settings, "baskets", basket_of_item),
    )
    info = self_information(train.item_users, int(train.active_users.sum()))
    features = one_hot(train.products, settings.similar_labels)
    for method, model in models.items():
        recs, _ = model.related(queries, max(settings.k), None)
        pop.add(method, recs, hits_from_truth(recs, truth), np.ones(n), info, features)
        step(method)
    return [pop], notes


def similar(
    split: Split, models: Mapping[str, Recommender], settings: EvaluateSettings, step: Step = _noop
) -> tuple[list[Population], Notes]:
    """Precision (and the other metrics) of neighbours sharing each label, on a sample of described items."""
    data = split.train
    notes: Notes = []
    labels = {name: label_codes(data.products, name) for name in settings.similar_labels}
    labelled = data.described_items & np.any([codes >= 0 for codes in labels.values()], axis=0)
    candidates = np.flatnonzero(labelled)
    rng = np.random.default_rng(settings.seed)
    queries_idx = np.sort(
        rng.choice(candidates, size=min(len(candidates), settings.similar_queries), replace=False)
    )
    notes.append(
        f"{len(queries_idx):,} query items sampled from {len(candidates):,} labelled catalogue items"
    )
    n = len(queries_idx)
    queries = sp.csr_matrix((np.ones(n), (np.arange(n), queries_idx)), shape=(n, data.n_items))
    ranked = {}
    for method, model in models.items():
        ranked[method] = model.related(queries, max(settings.k), None)[0]
        step(method)
    populations = []
    recommendable = int((data.described_items | data.active_items).sum())
    has_users = data.active_users.any()
    info = self_information(data.item_users, int(data.active_users.sum())) if has_users else None
    for name, codes in labels.items():
        described = np.where(labelled, codes, -1)
        group_size = np.bincount(described[described >= 0], minlength=int(codes.max()) + 2)
        # Only queries that have this label can be judged on it.
        has_label = codes[queries_idx] >= 0
        query_codes = codes[queries_idx][has_label]
        n_relevant = group_size[query_codes] - 1
        pop = Population(
            "similar", f"same {name}", settings.k, recommendable, _bootstrap(len(query_codes), settings, name)
        )
        for method, recs in ranked.items():
            kept = recs[has_label]
            pop.add(method, kept, hits_from_labels(kept, codes, query_codes), n_relevant, info, None)
        populations.append(pop)
    return populations, notes


def _is_known(items: np.ndarray) -> pl.Expr:
    """Rows whose item is marked in the bool mask ``items``."""
    return pl.col("item").is_in(pl.Series(np.flatnonzero(items), dtype=pl.Int32).implode())


def _matrix(pairs: pl.DataFrame, n_users: int, n_items: int) -> sp.csr_matrix:
    m = sp.csr_matrix(
        (np.ones(pairs.height), (pairs["user"].to_numpy(), pairs["item"].to_numpy())),
        shape=(n_users, n_items),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def _bootstrap(
    n: int, settings: EvaluateSettings, population: str, clusters: np.ndarray | None = None
) -> Bootstrap:
    # A seed per population (not per call order), so adding a widget does not change another's errors.
    return Bootstrap(n, settings.bootstrap, settings.seed + sum(map(ord, population)), clusters)


def _segments(data: Dataset, users: np.ndarray, columns: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for column in columns:
        if (
            column in data.users_table.columns
            and data.users_table[column].null_count() < data.users_table.height
        ):
            out[column] = np.array(
                data.users_table[column].cast(pl.String).fill_null("unknown").to_numpy()[users]
            )
    return out
