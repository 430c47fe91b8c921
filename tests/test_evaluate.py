"""``atelier evaluate`` end to end on the sample shop: the harness tells a good recommender from a bad one.

The oracles below know the planted answer of the sample shop (each shopper's segment and its preferred
departments; the complementary pairs). If the harness could not rank them above popularity, and popularity above
random, it would not be able to judge a real model either.
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from atelier.cli import app
from atelier.config import load_settings, with_section
from atelier.evaluate import evaluate
from atelier.evaluate.report import write_report
from atelier.features.dataset import Dataset
from atelier.models.base import Recommender
from cli_support import atelier


class SegmentOracle(Recommender):
    """Popular items of the departments the shopper's planted segment prefers, then the rest."""

    name = "segment_oracle"
    widgets = frozenset({"personal"})
    handles_cold_users = True

    def __init__(self, preferred: dict[str, list[str]]):
        self.preferred = preferred

    def _fit(self, data: Dataset) -> None:
        departments = data.products["department"].to_list()
        self.in_taste_ = np.zeros((data.n_users, data.n_items), dtype=bool)
        for user, depts in self.preferred.items():
            if user in data.users:
                row = data.users.one(user)
                self.in_taste_[row] = [d in depts for d in departments]
        share = data.item_users / max(data.item_users.max(), 1)
        self.popularity_ = np.where(data.active_items, share, -np.inf)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self.popularity_ + self.in_taste_[users]


class PairOracle(Recommender):
    """The planted complementary partner of a basket's items first, then popularity."""

    name = "pair_oracle"
    widgets = frozenset({"together"})

    def __init__(self, pairs: list[list[str]]):
        self.pairs = pairs

    def _fit(self, data: Dataset) -> None:
        index = [
            (data.items.one(a), data.items.one(b))
            for a, b in self.pairs
            if a in data.items and b in data.items
        ]
        rows, cols = zip(*(index + [(b, a) for a, b in index]), strict=True)
        self.partner_ = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(data.n_items, data.n_items))
        share = data.item_users / max(data.item_users.max(), 1)
        self.popularity_ = np.where(data.active_items, share, -np.inf)

    def _score_queries(self, queries: sp.csr_matrix) -> np.ndarray:
        return self.popularity_ + (queries @ self.partner_).toarray()


@pytest.fixture(scope="module")
def evaluation(ingested, truth):
    data_dir, _ = ingested
    preferred = {u: seg["preferred_departments"] for seg in truth["segments"] for u in seg["users"]}
    oracles = {
        "personal": {"segment_oracle": SegmentOracle(preferred)},
        "together": {"pair_oracle": PairOracle(truth["complementary_pairs"])},
    }
    return evaluate(data_dir, load_settings(), extra_models=oracles)


def verdicts(evaluation, widget: str, population: str, metric: str, k: int = 10) -> dict[str, str]:
    return {
        c.method: c.verdict
        for c in evaluation.comparisons
        if (c.widget, c.population, c.metric, c.k) == (widget, population, metric, k)
    }


def value(evaluation, widget: str, method: str, population: str, metric: str, k: int = 10) -> float:
    (row,) = [
        r
        for r in evaluation.rows
        if (r.widget, r.method, r.population, r.metric, r.k, r.segment)
        == (widget, method, population, metric, k, "all")
    ]
    return row.value


def test_the_segment_oracle_beats_popularity_which_beats_random(evaluation):
    for population in ("warm users", "cold users"):
        v = verdicts(evaluation, "personal", population, "ndcg")
        assert v["segment_oracle"] == "better", population
        assert v["random"] == "worse", population


PERSONAL_METHODS = ("user_cf", "item_cf", "profile", "history", "two_tower", "popular_segment")


@pytest.mark.parametrize("method", PERSONAL_METHODS)
def test_every_personal_method_recovers_the_planted_segments(evaluation, method):
    # The sample shop plants tastes by age group and region, and favourite styles per shopper: each method must
    # find them and beat popularity on the held-out months (warm shoppers; the paired difference beyond noise).
    assert verdicts(evaluation, "personal", "warm users", "ndcg")[method] == "better"


def test_the_pair_oracle_finds_the_hidden_partner(evaluation):
    v = verdicts(evaluation, "together", "baskets", "hit_rate")
    assert v["pair_oracle"] == "better" and v["random"] == "worse"
    assert value(evaluation, "together", "pair_oracle", "baskets", "hit_rate") > 0.5


def test_cold_users_are_reported_apart_not_dropped(evaluation):
    sizes = {(p["widget"], p["population"]): p["n_users"] for p in evaluation.populations}
    assert sizes["personal", "warm users"] > 0 and sizes["personal", "cold users"] > 0
    assert any("cold users" in note for note in evaluation.notes["personal"])


def test_similar_protocol_scores_label_agreement(evaluation):
    # A popular list shares the department of the query about as often as the department's catalogue share.
    populations = {p["population"] for p in evaluation.populations if p["widget"] == "similar"}
    assert populations == {"same department", "same color", "same target_audience"}
    assert 0 < value(evaluation, "similar", "random", "same target_audience", "precision") < 1
    # a model whose weights may come from the network runs only when named
    assert not any(r.method == "clip" for r in evaluation.rows)
    assert any(note.startswith("clip not measured: name it") for note in evaluation.notes["similar"])


def test_results_are_broken_down_by_age_group(evaluation):
    segments = {r.segment for r in evaluation.rows if r.widget == "personal" and r.segment != "all"}
    assert any(s.startswith("age_group=") for s in segments)


def test_report_files_hold_every_figure_with_its_error(evaluation, tmp_path):
    paths = write_report(evaluation, tmp_path)
    doc = json.loads(paths["metrics"].read_text())
    row = doc["metrics"][0]
    assert {"widget", "method", "metric", "k", "value", "se", "n_users"} <= row.keys()
    assert {r["metric"] for r in doc["metrics"]} >= {
        "precision", "recall", "ndcg", "map", "hit_rate", "mrr", "coverage", "novelty", "diversity",
    }  # fmt: skip
    markdown = paths["markdown"].read_text()
    assert "## Personalized Picks" in markdown and "± " in markdown and "noise" in markdown
    for line in markdown.splitlines():
        if line.startswith("!["):
            assert (tmp_path / line.split("](")[1].rstrip(")")).is_file()
    html = paths["html"].read_text()
    assert html.count("data:image/png;base64,") >= 5


def test_same_seed_same_report(ingested, tmp_path):
    data_dir, _ = ingested
    settings = with_section(load_settings(), "evaluate", widgets=["personal", "together"], bootstrap=50)
    first = write_report(evaluate(data_dir, settings), tmp_path / "a")["metrics"].read_text()
    second = write_report(evaluate(data_dir, settings), tmp_path / "b")["metrics"].read_text()
    assert first == second


def test_cli_writes_the_three_files_and_names_bad_options(ingested, tmp_path):
    data_dir, _ = ingested
    runner = CliRunner()
    result = runner.invoke(
        app, ["evaluate", str(data_dir), "--out", str(tmp_path), "--k", "3,12", "--widgets", "personal"]
    )
    assert result.exit_code == 0, result.output
    assert {p.name for p in tmp_path.iterdir()} >= {"metrics.json", "report.md", "report.html", "plots"}
    assert json.loads((tmp_path / "metrics.json").read_text())["k"] == [3, 12]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--split-date", "2031-01-01"], "leaves one side empty"),
        (["--split-date", "yesterday"], "split_date"),
        (["--k", "0"], "every k must be at least 1"),
        (["--widgets", "outfits"], "widgets"),
    ],
)
def test_cli_bad_options_are_one_clear_line(ingested, tmp_path, args, message):
    data_dir, _ = ingested
    result = atelier("evaluate", str(data_dir), "--out", str(tmp_path), *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_missing_data_folder_is_a_clear_error(tmp_path):
    result = atelier("evaluate", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "products.parquet not found" in result.stderr


def test_a_basket_cut_in_two_by_the_split_does_not_teach_its_own_pair():
    from atelier.evaluate.protocols import basket_training_data
    from atelier.evaluate.splits import leave_last_n
    from evaluate_fixtures import tiny_dataset

    rows = [("u1", "x", "2024-01-01", "s1"), ("u1", "y", "2024-01-01", "s1"), ("u1", "z", "2024-01-05", "s2")]
    rows += [("u1", "w", "2024-01-06", "s2")]
    split = leave_last_n(tiny_dataset(rows), 1)  # w is held out, z (same session s2) stays in training
    assert split.test["product_id"].to_list() == ["w"]
    learned = basket_training_data(split, load_settings().evaluate).interactions["product_id"].to_list()
    assert learned == ["x", "y"]


def test_similar_queries_without_the_label_are_not_scored_on_it():
    from atelier.evaluate.protocols import similar
    from atelier.evaluate.splits import Split
    from atelier.models.popular import RandomItems
    from evaluate_fixtures import tiny_dataset

    products = [
        {"product_id": p, "group_id": p, "title": p, "department": "Dresses", "color": c}
        for p, c in [("a", "red"), ("b", "red"), ("c", None), ("d", None), ("e", "blue")]
    ]
    data = tiny_dataset([("u1", "a", "2024-01-01", "s1")], products)
    settings = with_section(load_settings(), "evaluate", similar_labels=["department", "color"]).evaluate
    populations, _ = similar(
        Split(data, data.interactions, "none"), {"random": RandomItems().fit(data)}, settings
    )
    sizes = {pop.name: pop.n_queries for pop in populations}
    assert sizes == {"same department": 5, "same color": 3}


def test_split_date_and_leave_last_together_are_refused(ingested, tmp_path):
    result = atelier(
        "evaluate",
        str(ingested[0]),
        "--out",
        str(tmp_path),
        "--split-date",
        "2023-06-01",
        "--leave-last",
        "1",
    )
    assert result.returncode == 2 and "give one of them" in result.stderr


def test_together_hides_each_basket_item_in_turn_even_items_new_since_training():
    from atelier.evaluate.protocols import basket_training_data, together
    from atelier.evaluate.splits import split_by_date
    from atelier.models.popular import Popular
    from evaluate_fixtures import tiny_dataset

    rows = [("u1", "a", "2024-01-01", "s1"), ("u1", "b", "2024-01-01", "s1"), ("u2", "a", "2024-01-02", "s2")]
    rows += [
        ("u3", "a", "2024-02-01", "s3"),
        ("u3", "b", "2024-02-01", "s3"),
        ("u3", "new", "2024-02-01", "s3"),
    ]
    rows += [("u4", "b", "2024-02-02", "s4")]  # a single-item basket: no query
    split = split_by_date(tiny_dataset(rows), date(2024, 2, 1))
    settings = load_settings().evaluate
    popular = Popular().fit(basket_training_data(split, settings))
    (pop,), notes = together(split, {"popular": popular}, settings)
    assert pop.n_queries == 3  # a, b and new hidden in turn from basket s3
    assert "1 of them were never in a training basket" in notes[0]
    # Popular ranks a, then b, outside the query: hiding a or b is a hit, the new item cannot be found.
    hit_rate = pop.values["popular"]["hit_rate", 5]
    assert hit_rate.tolist() == [1.0, 1.0, 0.0]
