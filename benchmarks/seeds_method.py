"""The seeds' straightforward preprocessing in plain pandas: the peer Atelier's ingest is timed against.

It follows the seed documents' "Data Preprocessing" chapters step by step, with nothing slowed on
purpose and nothing optimised beyond what a careful notebook author would write:

- events: ``pd.read_csv(chunksize=100_000)`` over every events file; per chunk the product ids are
  pulled out of ``product_package`` with ``re.findall("[a-fA-F0-9]{32,}")`` row by row, the rows are
  exploded (one per product) and filtered to the events and buttons of interest, and
  (event_name, button_name) is mapped to an interaction kind with a row-wise ``apply`` (the weight
  follows from the kind); the chunks are concatenated and exact duplicates dropped;
- users: the birth date is found in ``Answer`` with ``\\b\\d{2}-\\d{2}-\\d{4}\\b`` row by row and
  parsed with ``pd.to_datetime(format="%d-%m-%Y", errors="coerce")``; ages outside 10..100 become
  NaN; a missing region is filled with the city and a missing city with the region (as the seeds
  do); birth date, age, city, region and platform are forward / backward filled within each user;
  ages still missing are predicted by a LinearRegression on one-hot region and platform; age groups
  come from ``pd.cut``;
- products: ``extract_price_info`` (``ast.literal_eval`` of the price cell), ``extract_feature`` (a
  regex per key on ``other_attributes``) and the ``ObjectId('...')`` split, applied row by row.

The three tables are written as Parquet. The rules mirror Atelier's defaults
(``atelier.config.DEFAULT_RULES``, ``DEFAULT_AGE_GROUPS``, ``min_age``/``max_age``);
``benchmarks/ingest.py`` checks that they still agree.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.linear_model import LinearRegression

CHUNK_SIZE = 100_000
PRODUCT_ID_PATTERN = r"[a-fA-F0-9]{32,}"
BIRTHDATE_PATTERN = r"\b\d{2}-\d{2}-\d{4}\b"
MIN_AGE, MAX_AGE = 10, 100

# The same mapping as Atelier's DEFAULT_RULES: a button rule wins over an event rule.
INTERACTION_BY_BUTTON = {"heart_button": ("wishlist", 3.0), "bag_button": ("bag", 4.0)}
INTERACTION_BY_EVENT = {
    "product_details_page_view": ("view", 1.0),
    "product_similar_items_clicking": ("click", 2.0),
    "add_to_bag": ("bag", 4.0),
    "purchase": ("purchase", 5.0),
}
EVENTS_OF_INTEREST = list(INTERACTION_BY_EVENT)
BUTTONS_OF_INTEREST = list(INTERACTION_BY_BUTTON)
KIND_WEIGHTS = dict(INTERACTION_BY_BUTTON.values()) | dict(INTERACTION_BY_EVENT.values())

# The same bands as Atelier's DEFAULT_AGE_GROUPS, as pd.cut bins (right-closed).
AGE_BINS = [9, 17, 24, 34, 44, 54, 64, 100]
AGE_LABELS = ["10-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"]

USER_COLUMNS = ["User_ID", "Answer", "city", "region", "platform"]
PRICE_ATTRIBUTES = ["value", "currency", "is_original", "valid_from", "valid_to"]
FEATURES = [
    "sku",
    "Product_URL",
    "All_Reviews_Rating",
    "All_Reviews_Count",
    "Clothing-Color",
    "Images",
    "CM_product_measurements",
    "Availability",
    "Clothing-Department",
    "All-Care",
    "Original>Description",
]


# -- events ------------------------------------------------------------------------------------------------
def extract_product_ids(package: Any) -> list[str]:
    """Every product id in a (broken-JSON) product_package cell."""
    return re.findall(PRODUCT_ID_PATTERN, str(package))


def map_interaction(row: pd.Series) -> str | None:
    """The interaction kind of one (event_name, button_name) row."""
    by_button = INTERACTION_BY_BUTTON.get(row["button_name"])
    if by_button is not None:
        return by_button[0]
    by_event = INTERACTION_BY_EVENT.get(row["event_name"])
    return None if by_event is None else by_event[0]


def process_chunk(chunk: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One chunk of raw events -> (its interactions, its distinct user rows)."""
    users = chunk[USER_COLUMNS].drop_duplicates()
    chunk["product_id"] = chunk["product_package"].apply(extract_product_ids)
    chunk = chunk.explode("product_id")
    chunk = chunk[
        chunk["event_name"].isin(EVENTS_OF_INTEREST) | chunk["button_name"].isin(BUTTONS_OF_INTEREST)
    ]
    chunk = chunk.dropna(subset=["product_id"])
    chunk["kind"] = chunk[["event_name", "button_name"]].apply(map_interaction, axis=1)
    chunk["weight"] = chunk["kind"].map(KIND_WEIGHTS)
    return chunk, users


def read_events(paths: Sequence[Path]) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Every events file in chunks -> (interactions with the raw columns, user rows, raw rows read)."""
    interactions, users, rows_read = [], [], 0
    for path in paths:
        for chunk in pd.read_csv(path, chunksize=CHUNK_SIZE):
            rows_read += len(chunk)
            kept, seen = process_chunk(chunk)
            interactions.append(kept)
            users.append(seen)
    return pd.concat(interactions, ignore_index=True), pd.concat(users, ignore_index=True), rows_read


def interactions_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Drop exact duplicates and keep the canonical interaction columns."""
    raw = raw.drop_duplicates()
    return pd.DataFrame(
        {
            "user_id": raw["User_ID"],
            "product_id": raw["product_id"],
            "session_id": raw["Session_ID"],
            "timestamp": pd.to_datetime(raw["event_time"], format="ISO8601", errors="coerce"),
            "event_name": raw["event_name"],
            "button_name": raw["button_name"],
            "kind": raw["kind"],
            "weight": raw["weight"],
        }
    )


# -- users -------------------------------------------------------------------------------------------------
def extract_birthdate(answer: Any) -> str | None:
    """The first dd-mm-yyyy date in a free-text answer."""
    found = re.findall(BIRTHDATE_PATTERN, str(answer))
    return found[0] if found else None


def add_age(users: pd.DataFrame, reference: pd.Timestamp) -> pd.DataFrame:
    """Age (whole years on ``reference``) and age group from the birth date hidden in ``Answer``."""
    birth = pd.to_datetime(users["Answer"].apply(extract_birthdate), format="%d-%m-%Y", errors="coerce")
    age = (reference - birth).dt.days // 365.25
    return users.assign(birth_date=birth, age=age.where(age.between(MIN_AGE, MAX_AGE)))


def fill_places_and_ages(users: pd.DataFrame) -> pd.DataFrame:
    """Region from city and city from region, then forward / backward fill within each user."""
    users = users.assign(region=users["region"].fillna(users["city"]))
    users = users.assign(city=users["city"].fillna(users["region"]))
    columns = ["birth_date", "age", "city", "region", "platform"]
    users[columns] = users.groupby("User_ID")[columns].ffill()
    users[columns] = users.groupby("User_ID")[columns].bfill()
    return users.drop_duplicates(subset=["User_ID"])


def predict_missing_ages(users: pd.DataFrame) -> pd.DataFrame:
    """LinearRegression on one-hot region and platform fills the ages still missing."""
    features = pd.get_dummies(users[["region", "platform"]].fillna("unknown"), dtype=float)
    known = users["age"].notna()
    users["age_imputed"] = ~known
    if known.sum() >= 2 and (~known).any():
        model = LinearRegression().fit(features[known], users.loc[known, "age"])
        users.loc[~known, "age"] = model.predict(features[~known]).round(1)
    users["age_group"] = pd.cut(users["age"], bins=AGE_BINS, labels=AGE_LABELS).astype(object)
    return users


def users_table(rows: pd.DataFrame, reference: pd.Timestamp) -> pd.DataFrame:
    """One row per user: birth date, age, age group, whether it was predicted, city, region, platform."""
    users = fill_places_and_ages(add_age(rows.dropna(subset=["User_ID"]), reference))
    users = predict_missing_ages(users)
    users = users.rename(columns={"User_ID": "user_id"})
    return users[["user_id", "birth_date", "age", "age_group", "age_imputed", "city", "region", "platform"]]


# -- products ----------------------------------------------------------------------------------------------
def extract_price_info(row: pd.Series, attribute: str) -> Any:
    """One attribute of the first entry of the stringified price list."""
    try:
        price_list = ast.literal_eval(row["price"])
        if isinstance(price_list, list) and price_list and isinstance(price_list[0], dict):
            return price_list[0].get(attribute)
    except (ValueError, SyntaxError):
        return None
    return None


def extract_feature(row: pd.Series, feature: str) -> str | None:
    """The value of one key of the escaped pseudo-JSON other_attributes cell."""
    match = re.search(r'\\"' + re.escape(feature) + r'\\": ?([^,}]+)', str(row["other_attributes"]))
    return match.group(1).strip('\\"[] ') if match else None


def extract_hexadecimal(object_id_string: Any) -> str | None:
    """``ObjectId('663b...')`` -> ``663b...``."""
    try:
        return str(object_id_string).split("(")[1].split(")")[0].strip("'\"")
    except IndexError:
        return None


def products_table(path: Path) -> pd.DataFrame:
    """The products CSV with its price and other_attributes columns spread into plain columns."""
    df = pd.read_csv(path).drop_duplicates()
    for attribute in PRICE_ATTRIBUTES:
        df[f"price_{attribute}"] = df.apply(lambda row, a=attribute: extract_price_info(row, a), axis=1)
    for feature in FEATURES:
        df[feature] = df.apply(lambda row, f=feature: extract_feature(row, f), axis=1)
    df["_id"] = df["_id"].apply(extract_hexadecimal)
    df["price_value"] = pd.to_numeric(df["price_value"], errors="coerce")
    df["All_Reviews_Rating"] = pd.to_numeric(df["All_Reviews_Rating"], errors="coerce")
    df["All_Reviews_Count"] = pd.to_numeric(df["All_Reviews_Count"], errors="coerce")
    df = df.dropna(subset=["product_id"]).drop(columns=["price", "other_attributes"])
    return df.astype({c: str for c in ("price_is_original", "price_valid_to")})


# -- the whole method --------------------------------------------------------------------------------------
def run(products_csv: Path, events_csvs: Sequence[Path], out_dir: Path) -> dict[str, int]:
    """Preprocess a raw TwentyToo export the seeds' way; write three Parquet tables; return their sizes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    raw, user_rows, rows_read = read_events(events_csvs)
    interactions = interactions_table(raw)
    del raw
    users = users_table(user_rows, interactions["timestamp"].max())
    products = products_table(products_csv)
    interactions.to_parquet(out_dir / "interactions.parquet", index=False)
    users.to_parquet(out_dir / "users.parquet", index=False)
    products.to_parquet(out_dir / "products.parquet", index=False)
    return {
        "raw_event_rows": rows_read,
        "interactions": len(interactions),
        "users": len(users),
        "products": len(products),
    }
