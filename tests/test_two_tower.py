"""The two-tower model: it learns planted tastes with either objective, stops early, scores newcomers and new
arrivals, and comes back from disk whole."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from atelier.errors import InputError
from atelier.models.two_tower import TwoTower
from evaluate_fixtures import tiny_dataset

# Two tastes, each shopper missing one item of theirs; "pop" is bought by everyone.
ROWS = [(f"a{u}", f"d{i}", "2024-01-01", f"sa{u}") for u in range(12) for i in range(1, 7) if (u + i) % 6]
ROWS += [(f"b{u}", f"k{i}", "2024-01-01", f"sb{u}") for u in range(12) for i in range(1, 7) if (u + i) % 6]
ROWS += [(f"{g}{u}", "pop", "2024-01-02", f"p{g}{u}") for g in "ab" for u in range(12)]
WORDS = {"d": "summer floral dress", "k": "leather ankle boots", "p": "canvas tote bag"}
PRODUCTS = [
    {"product_id": p, "group_id": p, "title": f"{WORDS[p[0]]} {p}", "department": WORDS[p[0]].split()[-1]}
    for p in [f"d{i}" for i in range(1, 8)] + [f"k{i}" for i in range(1, 8)] + ["pop"]
]  # d7 and k7 are new arrivals: nobody bought them yet


@pytest.fixture(scope="module")
def data():
    return tiny_dataset(ROWS, PRODUCTS)


def ids(data, items) -> list[str]:
    return [i for i in data.items.to_ids(items) if i is not None]


def fitted(data, **params) -> TwoTower:
    settings = dict(dimension=16, epochs=60, batch_size=32, learning_rate=0.01, patience=60, seed=1)
    return TwoTower(**(settings | params)).fit(data)


@pytest.mark.parametrize("objective", ["mse", "softmax"])
def test_the_towers_learn_each_shoppers_taste(data, objective):
    model = fitted(data, objective=objective)
    taste_hits = 0
    for group, prefix in (("a", "d"), ("b", "k")):
        users = np.array([data.users.one(f"{group}{u}") for u in range(12)])
        items, _ = model.recommend(users, 2)
        taste_hits += sum(ids(data, row)[0].startswith(prefix) for row in items)
    assert taste_hits >= 22, taste_hits  # of 24 shoppers, the first pick is of their own taste


def test_training_stops_early_and_keeps_the_best_epoch(data):
    model = fitted(data, epochs=300, patience=2, learning_rate=0.05)
    summary = model.training_summary()
    assert summary["epochs_run"] < 300  # the validation loss stopped improving long before
    losses = summary["validation_losses"]
    assert summary["best_epoch"] == int(np.argmin(losses)) + 1
    assert summary["epochs_run"] - summary["best_epoch"] == 2  # stopped after `patience` epochs without gain
    assert summary["seconds_per_epoch"] > 0


def test_a_newcomer_is_read_from_their_first_events_and_new_arrivals_get_scores(data):
    model = fitted(data)
    boots = sp.csr_matrix(
        ([5.0, 5.0], ([0, 0], [data.items.one("k1"), data.items.one("k2")])), shape=(1, data.n_items)
    )
    items, _ = model.recommend_rows(boots, 4)
    assert sum(i.startswith("k") for i in ids(data, items[0])) >= 3
    assert "k1" not in ids(data, items[0])  # what the newcomer has is left out
    # k7 and d7 are new arrivals: nobody took them, so only their department and title place them
    all_scores = model._score_rows(boots, np.array([-1]))[0]
    assert all_scores[data.items.one("k7")] > all_scores[data.items.one("d7")]


def test_save_and_load_restore_the_network(data, tmp_path):
    model = fitted(data, epochs=5)
    users = np.arange(data.n_users)
    before = model.recommend(users, 5)
    model.save(tmp_path / "tt")
    loaded = TwoTower.load(tmp_path / "tt")
    after = loaded.recommend(users, 5)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_allclose(before[1], after[1], rtol=1e-5)
    (tmp_path / "tt" / "towers.pt").unlink()
    with pytest.raises(InputError, match=r"no towers\.pt"):
        TwoTower.load(tmp_path / "tt")


def test_an_unknown_objective_is_refused():
    with pytest.raises(ValueError, match="objective must be one of mse, softmax"):
        TwoTower(objective="bpr")
