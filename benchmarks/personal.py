"""Benchmark: Personalized Picks speed — fit time, one-shopper recommend latency p50 / p99 and peak memory per
method, beside the peer library `implicit` (item-item cosine and ALS) on the same matrix, in one run.

Synthetic shop: ``--users`` shoppers x ``--items`` items x ``--interactions`` interactions over 180 days. Shoppers
belong to 50 taste clusters of 400 items each (80% of a shopper's events fall in their cluster, the rest on
globally popular items, both Zipf-skewed); kinds view / bag / purchase weigh 1 / 4 / 5. Latency is measured one
shopper at a time, as a shop page asks, over ``--queries`` random shoppers with interactions. Peak memory is the
largest allocation traced by ``tracemalloc`` during the fit (numpy and scipy report theirs to it; torch does
not, so the process's peak resident memory after each fit is printed too; the two-tower fit is not traced, as
tracing slows its training loop). The two-tower model trains for
``--tower-epochs`` epochs (its time per epoch is what scales; early stopping decides how many a shop runs).

    .venv/bin/python benchmarks/personal.py --users 100000 --items 20000 --interactions 2000000
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import numpy as np
import polars as pl

TARGET_P99_MS = 20.0


def synthetic_shop(n_users: int, n_items: int, n_interactions: int, seed: int = 7):
    from atelier.features.dataset import Dataset
    from atelier.schema import empty

    rng = np.random.default_rng(seed)
    clusters = 50
    cluster_of_user = rng.integers(0, clusters, n_users)
    cluster_items = rng.integers(0, n_items, (clusters, 400))  # a taste: 400 items (tastes may overlap)
    users = rng.integers(0, n_users, n_interactions)
    in_cluster = rng.random(n_interactions) < 0.8
    zipf = np.minimum(rng.zipf(1.3, n_interactions) - 1, 399)
    items = np.where(
        in_cluster,
        cluster_items[cluster_of_user[users], zipf],
        np.minimum(rng.zipf(1.2, n_interactions) - 1, n_items - 1),
    )
    kinds = rng.choice(["view", "bag", "purchase"], n_interactions, p=[0.7, 0.2, 0.1])
    start = datetime(2024, 1, 1)
    interactions = pl.DataFrame(
        {
            "user_id": pl.Series(users).cast(pl.String),
            "product_id": pl.Series(items).cast(pl.String),
            "timestamp": [
                start + timedelta(seconds=int(s)) for s in rng.integers(0, 180 * 86_400, n_interactions)
            ],
            "kind": kinds,
            "weight": np.select([kinds == "view", kinds == "bag"], [1.0, 4.0], 5.0),
            "session_id": pl.Series(users).cast(pl.String),
        }
    )
    interactions = pl.concat([empty("interactions"), interactions], how="diagonal_relaxed")
    words = np.array(
        ["dress", "boots", "shirt", "skirt", "coat", "bag", "jeans", "scarf", "sandal", "hoodie"]
    )
    products = pl.concat(
        [
            empty("products"),
            pl.DataFrame(
                {
                    "product_id": pl.Series(np.arange(n_items)).cast(pl.String),
                    "group_id": pl.Series(np.arange(n_items) // 3).cast(pl.String),
                    "title": [
                        f"{words[i % 10]} style {i % 97} {words[(i // 10) % 10]}" for i in range(n_items)
                    ],
                    "department": [str(words[i % 10]) for i in range(n_items)],
                }
            ),
        ],
        how="diagonal_relaxed",
    )
    ages = np.array(["18-24", "25-34", "35-44", "45-54"])
    people = pl.concat(
        [
            empty("users"),
            pl.DataFrame(
                {
                    "user_id": pl.Series(np.arange(n_users)).cast(pl.String),
                    "age_group": ages[rng.integers(0, 4, n_users)],
                    "region": np.array(["Cairo", "Giza", "Dubai"])[rng.integers(0, 3, n_users)],
                }
            ),
        ],
        how="diagonal_relaxed",
    )
    return Dataset.from_tables(products, people, interactions)


def measure(
    name: str,
    fit: Callable[[], object],
    recommend: Callable[[int], object],
    users: np.ndarray,
    trace: bool = True,
) -> dict:
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    fit()
    fit_s = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if trace else float("nan")
    tracemalloc.stop()
    recommend(int(users[0]))  # warm up
    latencies = []
    for user in users:
        t = time.perf_counter()
        recommend(int(user))
        latencies.append((time.perf_counter() - t) * 1000)
    p50, p99 = np.percentile(latencies, [50, 99])
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    return {"method": name, "fit_s": fit_s, "p50": p50, "p99": p99, "peak_mb": peak / 2**20, "rss_mb": rss_mb}


METHODS = ("popular", "popular_segment", "history", "user_cf", "item_cf", "profile", "two_tower")


def atelier_rows(data, users: np.ndarray, tower_epochs: int) -> tuple[list[dict], str]:
    from atelier.config import load_settings
    from atelier.models import make_model

    settings = load_settings()
    settings.two_tower.epochs = tower_epochs
    rows, tower = [], ""
    for name in METHODS:
        model = make_model(name, settings)
        rows.append(
            measure(
                name,
                lambda model=model: model.fit(data),
                lambda u, model=model: model.recommend(np.array([u]), 10),
                users,
                trace=name
                != "two_tower",  # tracing every Python allocation would slow its training loop 1.5x
            )
        )
        print(f"  {name}: done", flush=True)
        if name == "two_tower":
            summary = model.training_summary()
            tower = (
                f"two_tower: {summary['seconds_per_epoch']:.1f} s per epoch (median of {summary['epochs_run']}), "
                f"{data.matrix.nnz:,} (shopper, item) pairs, batch {settings.two_tower.batch_size}, "
                f"objective {settings.two_tower.objective}"
            )
    return rows, tower


def implicit_rows(data, users: np.ndarray) -> list[dict]:
    try:
        from implicit.als import AlternatingLeastSquares
        from implicit.nearest_neighbours import CosineRecommender
    except ImportError:
        print("  implicit not installed (pip install -e '.[bench]'): peer rows skipped")
        return []
    from atelier.features.user_items import weighted_matrix

    matrix = weighted_matrix(data).tocsr()
    rows = []
    for name, model in (
        ("implicit item-item cosine (K=100)", CosineRecommender(K=100)),
        (
            "implicit ALS (64 factors, 15 its)",
            AlternatingLeastSquares(factors=64, iterations=15, random_state=7),
        ),
    ):
        rows.append(
            measure(
                name,
                lambda model=model: model.fit(matrix, show_progress=False),
                lambda u, model=model: model.recommend(u, matrix[u], N=10, filter_already_liked_items=True),
                users,
            )
        )
        print(f"  {name}: done", flush=True)
    return rows


def table(rows: Sequence[dict], peers: Sequence[dict]) -> str:
    lines = [
        "| method | fit s | p50 ms | p99 ms | peak MB (fit, traced) | process RSS high-water MB | p99 target |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in [*rows, *peers]:
        met = "met" if r["p99"] < TARGET_P99_MS else "missed"
        lines.append(
            f"| {r['method']} | {r['fit_s']:.1f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['peak_mb']:.0f} "
            f"| {r['rss_mb']:.0f} | {met} |"
        )
    by_name = {r["method"]: r for r in [*rows, *peers]}
    if "item_cf" in by_name and "implicit item-item cosine (K=100)" in by_name:
        ours, peer = by_name["item_cf"], by_name["implicit item-item cosine (K=100)"]
        lines += [
            "",
            f"item_cf / implicit item-item: fit {ours['fit_s'] / peer['fit_s']:.1f}x, "
            f"p50 {ours['p50'] / peer['p50']:.1f}x, p99 {ours['p99'] / peer['p99']:.1f}x (above 1: Atelier slower)",
        ]
    lines.append(f"median p99 over Atelier's methods: {statistics.median(r['p99'] for r in rows):.2f} ms")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--interactions", type=int, default=2_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--tower-epochs", type=int, default=2, help="two_tower epochs to time")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data = synthetic_shop(args.users, args.items, args.interactions)
    print(
        f"synthetic shop: {data.n_users:,} shoppers x {data.n_items:,} items x {data.interactions.height:,} "
        f"interactions, built in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    rng = np.random.default_rng(11)
    users = rng.choice(np.flatnonzero(data.active_users), size=args.queries, replace=False)
    rows, tower = atelier_rows(data, users, args.tower_epochs)
    peers = implicit_rows(data, users)
    print(table(rows, peers))
    print(tower)


if __name__ == "__main__":
    main()
