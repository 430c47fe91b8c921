"""The contract every registered model keeps; adding a model to the registry adds it to these tests."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from atelier.config import load_settings
from atelier.errors import InputError, NotFittedError
from atelier.index.ranking import PAD
from atelier.models import REGISTRY, make_model, models_for
from atelier.models.popular import Popular, RecentPopular
from evaluate_fixtures import tiny_dataset

# a bought by 3 users, b by 2, c by 1 (recently), d by nobody in training but in the catalogue
ROWS = [
    ("u1", "a", "2024-01-01", "s1"),
    ("u2", "a", "2024-01-02", "s2"),
    ("u3", "a", "2024-01-02", "s3"),
    ("u1", "b", "2024-01-01", "s1"),
    ("u2", "b", "2024-01-02", "s2"),
    ("u3", "c", "2024-02-01", "s4"),
]
PRODUCTS = [{"product_id": p, "group_id": p, "title": p} for p in "abcd"]


@pytest.fixture(scope="module")
def data():
    return tiny_dataset(ROWS, PRODUCTS)


@pytest.fixture(params=sorted(REGISTRY))
def name(request) -> str:
    return request.param


def test_every_model_ranks_for_its_widgets(data, name):
    model = make_model(name, load_settings()).fit(data)
    if "personal" in model.widgets:
        items, scores = model.recommend(np.arange(data.n_users), 3)
        assert items.shape == scores.shape == (data.n_users, 3)
        for row, row_scores in zip(items, scores, strict=True):
            ranked = row[row >= 0]
            assert len(set(ranked)) == len(ranked), "an item twice in one list"
            assert (np.diff(row_scores[row >= 0]) <= 0).all(), "scores not best first"
    if model.widgets & {"together", "similar"}:
        query = sp.csr_matrix(([1.0], ([0], [0])), shape=(1, data.n_items))
        items, _ = model.related(query, 3)
        assert 0 not in items[0], "a query item recommended for itself"


@pytest.mark.parametrize("name", models_for("personal"))
def test_excluded_items_never_come_back(data, name):
    model = make_model(name, load_settings()).fit(data)
    exclude = data.binary[[0]]
    items, _ = model.recommend(np.array([0]), data.n_items, exclude)
    assert not set(items[0][items[0] >= 0]) & set(exclude.indices)


def test_using_a_model_before_fit_is_a_clear_error(name):
    model = make_model(name, load_settings())
    with pytest.raises(NotFittedError, match="not fitted"):
        model.recommend(np.array([0]), 3)


def test_save_and_load_give_the_same_recommendations(data, name, tmp_path):
    model = make_model(name, load_settings()).fit(data)
    loaded = type(model).load(model.save(tmp_path / name))
    users = np.arange(data.n_users)
    if "personal" in model.widgets:
        for a, b in zip(model.recommend(users, 4), loaded.recommend(users, 4), strict=True):
            np.testing.assert_array_equal(a, b)
    if model.widgets & {"together", "similar"}:
        each_item = sp.identity(data.n_items, format="csr")
        for a, b in zip(model.related(each_item, 4), loaded.related(each_item, 4), strict=True):
            np.testing.assert_array_equal(a, b)
    assert loaded.get_params() == model.get_params()


def test_loading_another_models_folder_is_refused(data, tmp_path):
    Popular().fit(data).save(tmp_path / "m")
    with pytest.raises(InputError, match="holds model 'popular'"):
        RecentPopular.load(tmp_path / "m")


def test_out_of_range_users_are_refused(data):
    with pytest.raises(InputError, match="out of range"):
        Popular().fit(data).recommend(np.array([99]), 3)


def test_popular_ranks_by_distinct_users_and_never_offers_unseen_items(data):
    items, _ = Popular().fit(data).recommend(np.array([0]), 4)
    ids = data.items.to_ids(items[0])
    assert ids.tolist() == ["a", "b", "c", None]


def test_recent_popular_puts_the_last_days_first(data):
    items, _ = RecentPopular(window_days=7).fit(data).recommend(np.array([0]), 4)
    # c is the only item of the last week; all-time popularity orders the rest; d was never bought.
    assert data.items.to_ids(items[0]).tolist() == ["c", "a", "b", None]
    items, _ = RecentPopular(window_days=40).fit(data).recommend(np.array([0]), 3)
    assert data.items.to_ids(items[0]).tolist() == ["a", "b", "c"]


def test_random_is_repeatable_and_user_specific(data):
    model = make_model("random", load_settings()).fit(data)
    first, _ = model.recommend(np.array([0, 1, 2]), 3)
    again, _ = model.recommend(np.array([2, 1, 0]), 3)
    np.testing.assert_array_equal(first, again[::-1])
    assert PAD not in first  # three items with interactions to draw from


def test_registry_lists_the_baselines_for_every_widget():
    for widget in ("together", "similar", "personal"):
        assert {"popular", "popular_recent", "random"} <= set(models_for(widget))


def test_a_refit_forgets_the_previous_data(data, name):
    other = tiny_dataset(
        [("u9", "d", "2024-03-01", "s9"), ("u8", "d", "2024-03-02", "s8"), ("u8", "c", "2024-03-02", "s8")],
        PRODUCTS,
    )
    settings = load_settings()
    model = make_model(name, settings).fit(data)
    query = sp.csr_matrix(([1.0], ([0], [0])), shape=(1, data.n_items))
    if model.widgets & {"together", "similar"}:
        model.related(query, 3)  # fills any cache (an index, a transposed matrix)
    else:
        model.recommend(np.array([0]), 3)
    refit, fresh = model.fit(other), make_model(name, settings).fit(other)
    if "personal" in model.widgets:
        users = np.arange(other.n_users)
        np.testing.assert_array_equal(refit.recommend(users, 3)[0], fresh.recommend(users, 3)[0])
    if model.widgets & {"together", "similar"}:
        each = sp.identity(other.n_items, format="csr")
        np.testing.assert_array_equal(refit.related(each, 3)[0], fresh.related(each, 3)[0])
