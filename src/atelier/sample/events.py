"""The sample shop's event log, generated column-wise so a million rows take seconds.

Shoppers browse mostly in their segment's preferred departments and come back to a few favourite styles (in
any of their colours); in some sessions they put a planted
complementary pair in the bag and often buy both. Around them: events of no interest, answers to onboarding
questions hiding birth dates, exact duplicate rows, packages naming several products, and a few rows that cannot
be used (no product, an unknown product, a broken timestamp, no user).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from atelier.sample.catalogue import Product
from atelier.sample.shoppers import SEGMENTS, Shopper, birthdate_answer, city_region_of

YEAR_START = datetime(2023, 1, 1)
YEAR_SECONDS = 365 * 24 * 3600

NOISE_EVENTS = [
    "app_open",
    "home_page_view",
    "search",
    "category_page_view",
    "scroll",
    "banner_click",
    "notification_open",
    "login",
]
# (event_name, button_name, share of product-related rows)
PRODUCT_ACTIONS = [
    ("product_details_page_view", "", 0.62),
    ("product_similar_items_clicking", "", 0.12),
    ("product_button_click", "heart_button", 0.09),
    ("product_button_click", "bag_button", 0.05),
    ("add_to_bag", "", 0.05),
    ("purchase", "", 0.03),
    ("product_button_click", "share_button", 0.04),  # a button of no interest
]


FAVOURITES = 2  # favourite styles per shopper
REVISIT_SHARE = 0.2  # share of a shopper's product rows that go back to a favourite style


@dataclass
class EventLog:
    """The raw rows (plus a hidden ``_true_time`` used to split files) and what was planted in them."""

    rows: pl.DataFrame
    complementary_pairs: list[tuple[int, int]]
    planted: dict[str, int]


def _popularity_sampler(products: list[Product], rng: np.random.Generator):
    """Per department: product indices and cumulative popularity (Zipf-like within the department)."""
    departments = sorted({p.department for p in products})
    by_dept = {}
    for d in departments:
        idx = np.array([i for i, p in enumerate(products) if p.department == d])
        weights = 1.0 / np.arange(1, len(idx) + 1) ** 0.8
        rng.shuffle(weights)
        by_dept[d] = (idx, np.cumsum(weights) / weights.sum())
    return departments, by_dept


def _pick_products(dept_of_row: np.ndarray, departments, by_dept, rng) -> np.ndarray:
    out = np.empty(len(dept_of_row), dtype=np.int64)
    for d_i, d in enumerate(departments):
        rows = np.flatnonzero(dept_of_row == d_i)
        if rows.size:
            idx, cum = by_dept[d]
            out[rows] = idx[np.minimum(np.searchsorted(cum, rng.random(rows.size)), len(idx) - 1)]
    return out


def _revisit_favourites(
    product: np.ndarray,
    users: np.ndarray,
    preferred: np.ndarray,
    departments,
    by_dept,
    products: list[Product],
    rng: np.random.Generator,
) -> np.ndarray:
    """Individual taste: each shopper has ``FAVOURITES`` favourite styles in their preferred departments, and a
    ``REVISIT_SHARE`` of their product rows go back to one of them, in any of its colours (shoppers return to
    what they like and look at its other colours: what ``history`` and the collaborative methods can find)."""
    n_users = preferred.shape[0]
    fav_dept = preferred[
        np.arange(n_users)[:, None], rng.integers(0, preferred.shape[1], (n_users, FAVOURITES))
    ]
    favourite = _pick_products(fav_dept.ravel(), departments, by_dept, rng).reshape(n_users, FAVOURITES)
    style_of = np.array([p.style for p in products])
    colours = {}
    for i, style in enumerate(style_of):
        colours.setdefault(int(style), []).append(i)
    revisit = rng.random(len(product)) < REVISIT_SHARE
    chosen = favourite[users[revisit], rng.integers(0, FAVOURITES, int(revisit.sum()))]
    out = product.copy()
    out[revisit] = [int(rng.choice(colours[int(style_of[c])])) for c in chosen]
    return out


def _plant_pairs(products: list[Product], rng: np.random.Generator) -> list[tuple[int, int]]:
    """Complementary pairs: two available products of different departments, each in at most one pair."""
    n_pairs = max(5, len(products) // 25)
    order = [i for i in rng.permutation(len(products)) if products[int(i)].available]
    pairs: list[tuple[int, int]] = []
    used: set[int] = set()
    for a in order:
        if len(pairs) == n_pairs:
            break
        if a in used:
            continue
        for b in order:
            if b not in used and b != a and products[int(b)].department != products[int(a)].department:
                pairs.append((int(a), int(b)))
                used.update((a, b))
                break
    return pairs


def make_events(
    products: list[Product], shoppers: list[Shopper], n_events: int, rng: np.random.Generator
) -> EventLog:
    """Generate ``n_events`` raw event rows (duplicates included)."""
    n_users = len(shoppers)
    departments, by_dept = _popularity_sampler(products, rng)
    dept_index = {d: i for i, d in enumerate(departments)}
    pairs = _plant_pairs(products, rng)
    planted: dict[str, int] = {}

    n_dup = n_events // 50
    n_unique = n_events - n_dup
    n_answer = min(int(n_users * 1.2), n_unique // 10)
    n_sessions = max(1, n_unique // 10)
    n_pair_sessions = max(len(pairs), int(n_sessions * 0.12))
    pair_rows_per_session = 4  # bag a, bag b, purchase a, purchase b (purchases sometimes dropped below)
    n_pair_rows = min(n_pair_sessions * pair_rows_per_session, (n_unique - n_answer) // 3)
    n_pair_sessions = n_pair_rows // pair_rows_per_session
    n_pair_rows = n_pair_sessions * pair_rows_per_session
    n_regular = n_unique - n_answer - n_pair_rows

    activity = np.array([s.activity for s in shoppers])
    session_user = rng.choice(n_users, size=n_sessions, p=activity / activity.sum())
    session_start = rng.integers(0, YEAR_SECONDS - 3600, size=n_sessions)
    user_segment = np.array([s.segment for s in shoppers])
    seg_prefs = np.array([[dept_index[d] for d in seg.preferred_departments] for seg in SEGMENTS])

    # Regular rows: noise or a product action inside a random session.
    sess = rng.integers(0, n_sessions, size=n_regular)
    users = session_user[sess]
    seconds = session_start[sess] + rng.integers(0, 1800, size=n_regular)
    is_noise = rng.random(n_regular) < 0.45
    action_p = np.array([a[2] for a in PRODUCT_ACTIONS])
    action = rng.choice(len(PRODUCT_ACTIONS), size=n_regular, p=action_p / action_p.sum())
    in_taste = rng.random(n_regular) < 0.8
    dept = np.where(
        in_taste,
        seg_prefs[user_segment[users], rng.integers(0, seg_prefs.shape[1], size=n_regular)],
        rng.integers(0, len(departments), size=n_regular),
    )
    product = _pick_products(dept, departments, by_dept, rng)
    product = _revisit_favourites(
        product, users, seg_prefs[user_segment], departments, by_dept, products, rng
    )
    second = np.where(rng.random(n_regular) < 0.02, _pick_products(dept, departments, by_dept, rng), -1)
    event_name = np.where(
        is_noise,
        np.array(NOISE_EVENTS)[rng.integers(0, len(NOISE_EVENTS), size=n_regular)],
        np.array([a[0] for a in PRODUCT_ACTIONS])[action],
    )
    button = np.where(is_noise, "", np.array([a[1] for a in PRODUCT_ACTIONS])[action])
    product = np.where(is_noise, -1, product)
    second = np.where(is_noise, -1, second)
    planted["multi_product_packages"] = int((second >= 0).sum())

    # Planted pairs: both items bagged in one session, and bought together most of the time.
    pair_sessions = rng.choice(n_sessions, size=n_pair_sessions)
    pair_weights = 1.0 / np.arange(1, len(pairs) + 1) ** 0.5
    pair_of = rng.choice(len(pairs), size=n_pair_sessions, p=pair_weights / pair_weights.sum())
    pair_arr = np.array(pairs)
    p_sess = np.repeat(pair_sessions, pair_rows_per_session)
    p_product = np.stack(
        [pair_arr[pair_of, 0], pair_arr[pair_of, 1], pair_arr[pair_of, 0], pair_arr[pair_of, 1]], axis=1
    ).ravel()
    bought = rng.random(n_pair_sessions) < 0.75
    p_event = np.stack(
        [
            np.full(n_pair_sessions, "add_to_bag"),
            np.full(n_pair_sessions, "product_button_click"),
            np.where(bought, "purchase", "home_page_view"),
            np.where(bought, "purchase", "scroll"),
        ],
        axis=1,
    ).ravel()
    p_button = np.tile(np.array(["", "bag_button", "", ""]), n_pair_sessions)
    p_product = np.where(np.isin(p_event, ["home_page_view", "scroll"]), -1, p_product)
    p_seconds = session_start[p_sess] + np.tile(np.array([300, 420, 1500, 1500]), n_pair_sessions)

    # Answer rows: the onboarding question hiding the birth date, and a question of no use.
    answer_user = np.concatenate(
        [
            rng.choice(n_users, size=min(n_users, int(n_answer * 0.8)), replace=False),
            rng.integers(0, n_users, size=n_answer - min(n_users, int(n_answer * 0.8))),
        ]
    )
    answer_is_birth = np.arange(n_answer) < min(n_users, int(n_answer * 0.8))
    answers, questions = [], []
    answer_kinds: dict[str, int] = {}
    for u, is_birth in zip(answer_user, answer_is_birth, strict=True):
        if is_birth:
            text, kind = birthdate_answer(shoppers[int(u)], rng)
            answer_kinds[kind] = answer_kinds.get(kind, 0) + 1
            answers.append(text)
            questions.append("What is your date of birth?")
        else:
            answers.append(str(rng.choice(["casual", "streetwear", "modest", "sporty"])))
            questions.append("Which style do you like most?")
    planted.update({f"birthdate_answers_{k}": v for k, v in answer_kinds.items()})
    a_seconds = rng.integers(0, YEAR_SECONDS, size=n_answer)

    user_idx = np.concatenate([users, session_user[p_sess], answer_user])
    session_idx = np.concatenate([sess, p_sess, n_sessions + np.arange(n_answer)])
    frame = pl.DataFrame(
        {
            "user": user_idx,
            "session": session_idx,
            "seconds": np.concatenate([seconds, p_seconds, a_seconds]),
            "event_name": np.concatenate(
                [event_name, p_event, np.full(n_answer, "onboarding_question_answered")]
            ),
            "button_name": np.concatenate([button, p_button, np.full(n_answer, "")]),
            "product": np.concatenate([product, p_product, np.full(n_answer, -1)]),
            "second": np.concatenate([second, np.full(n_pair_rows + n_answer, -1)]),
            "Question": [None] * (n_regular + n_pair_rows) + questions,
            "Answer": [None] * (n_regular + n_pair_rows) + answers,
        }
    )
    return EventLog(_render(frame, products, shoppers, n_dup, rng, planted), pairs, planted)


def _render(
    frame: pl.DataFrame,
    products: list[Product],
    shoppers: list[Shopper],
    n_dup: int,
    rng: np.random.Generator,
    planted: dict[str, int],
) -> pl.DataFrame:
    """Turn the integer frame into raw TwentyToo text columns, with the messiness of a real export."""
    n = frame.height
    pid = pl.Series([p.product_id for p in products])
    brand = pl.Series([p.brand for p in products])
    site = pl.Series([p.website for p in products])
    uid = pl.Series([s.user_id for s in shoppers])
    cities = np.array([city_region_of(s)[0] for s in shoppers], dtype=object)
    regions = np.array([city_region_of(s)[1] for s in shoppers], dtype=object)
    platform = pl.Series([s.platform for s in shoppers])
    has_product = frame["product"].to_numpy() >= 0
    prod = np.where(has_product, frame["product"].to_numpy(), 0)
    sec = frame["second"].to_numpy()
    users = frame["user"].to_numpy()

    # Breakage planted in a few product rows: no id, an unknown id, a broken time, no user.
    roll = rng.random(n)
    no_id = has_product & (roll < 0.004)
    unknown = has_product & (roll >= 0.004) & (roll < 0.008)
    bad_time = (roll >= 0.008) & (roll < 0.011)
    no_user = (roll >= 0.011) & (roll < 0.013)
    planted.update(
        {
            "rows_without_product_id": int(no_id.sum()),
            "rows_with_unknown_product": int(unknown.sum()),
            "rows_with_bad_timestamp": int(bad_time.sum()),
            "rows_without_user": int(no_user.sum()),
        }
    )
    ids = pid.gather(prod).to_numpy().astype(object)
    ids[unknown] = [rng.bytes(20).hex() for _ in range(int(unknown.sum()))]
    second_ids = pid.gather(np.where(sec >= 0, sec, 0)).to_numpy()
    brands = brand.gather(prod).to_numpy()
    sites = site.gather(prod).to_numpy()
    single = [
        f'{{"product_id": "{i}", "product_brand": "{b}, "website": "{w}"}}'
        for i, b, w in zip(ids, brands, sites, strict=True)
    ]
    package = np.array(single, dtype=object)
    multi = np.flatnonzero(sec >= 0)
    for k in multi:
        package[k] = (
            f'{{"product_ids": ["{ids[k]}", "{second_ids[k]}"], "product_brand": "{brands[k]}, '
            f'"website": "{sites[k]}"}}'
        )
    package[no_id] = '{"product_id": "", "product_brand": "unknown"}'
    wrapped = rng.random(n) < 0.1  # some cells keep the Python repr quotes
    package[wrapped & has_product] = "'" + package[wrapped & has_product] + "'"
    package[~has_product] = np.where(rng.random(int((~has_product).sum())) < 0.5, None, '{"screen": "home"}')

    times = (np.datetime64(YEAR_START, "s") + frame["seconds"].to_numpy().astype("timedelta64[s]")).astype(
        "datetime64[ms]"
    )
    time_text = np.datetime_as_string(times, unit="s").astype(object)
    iso = rng.random(n) < 0.2
    time_text[~iso] = [t.replace("T", " ") for t in time_text[~iso]]
    time_text[bad_time] = rng.choice(["not a time", "2023-13-45 25:61:00", ""], size=int(bad_time.sum()))

    city = cities[users].copy()
    region = regions[users].copy()
    city[rng.random(n) < 0.15] = None
    region[rng.random(n) < 0.15] = None

    user_text = uid.gather(users).to_numpy().astype(object)
    user_text[no_user] = None
    out = pl.DataFrame(
        {
            "User_ID": user_text.tolist(),
            "Session_ID": ("S" + pl.Series(frame["session"]).cast(pl.String)).to_numpy(),
            "event_time": [str(t) for t in time_text],
            "event_name": frame["event_name"],
            "button_name": frame["button_name"],
            "product_package": package.tolist(),
            "Question": frame["Question"],
            "Answer": frame["Answer"],
            "city": city.tolist(),
            "region": region.tolist(),
            "platform": platform.gather(users),
            "_true_time": times,
        },
        schema_overrides={
            c: pl.String for c in ("User_ID", "event_time", "product_package", "city", "region")
        },
    )
    out = out.with_columns(pl.col("button_name").replace("", None))
    dup_rows = out[np.sort(rng.choice(n, size=n_dup, replace=n_dup > n)).tolist()]
    planted["duplicate_rows"] = n_dup
    return pl.concat([out, dup_rows]).sort("_true_time", maintain_order=True)
