"""The sample shop's shoppers: segments (age group x region) with distinct tastes, and their profiles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

# region -> its cities; region names differ from city names so that filling one from the other is a real step.
REGIONS: dict[str, list[str]] = {
    "Cairo Governorate": ["Cairo", "New Cairo"],
    "Giza Governorate": ["Giza", "6th of October"],
    "Alexandria Governorate": ["Alexandria"],
    "Riyadh Province": ["Riyadh"],
    "Makkah Province": ["Jeddah", "Mecca"],
    "Dubai Emirate": ["Dubai"],
}
PLATFORMS = ["android", "ios", "web"]
REFERENCE_DAY = date(2023, 12, 31)


@dataclass(frozen=True)
class Segment:
    """A group of shoppers who share an age group, a region and preferred departments."""

    name: str
    age_group: str
    age_range: tuple[int, int]
    region: str
    preferred_departments: tuple[str, ...]


SEGMENTS = (
    Segment("campus-cairo", "18-24", (18, 24), "Cairo Governorate", ("T-Shirts", "Jeans", "Sneakers")),
    Segment("young-riyadh", "18-24", (18, 24), "Riyadh Province", ("Dresses", "Skirts", "Bags")),
    Segment("office-alexandria", "25-34", (25, 34), "Alexandria Governorate", ("Jackets", "Pants", "Tops")),
    Segment("family-giza", "35-44", (35, 44), "Giza Governorate", ("Dresses", "Bags", "Hats")),
    Segment("classic-jeddah", "45-54", (45, 54), "Makkah Province", ("Pants", "Jackets", "Hats")),
    Segment("trend-dubai", "25-34", (25, 34), "Dubai Emirate", ("Sneakers", "Tops", "Bags")),
)


@dataclass
class Shopper:
    """One shopper as the generator knows them."""

    user_id: str
    segment: int
    birth_date: date
    city: str
    platform: str
    activity: float  # relative number of sessions


def make_shoppers(n_users: int, rng: np.random.Generator) -> list[Shopper]:
    """Draw ``n_users`` shoppers spread over the segments, with birth dates inside their age group."""
    shoppers = []
    for i in range(n_users):
        seg_index = i % len(SEGMENTS)
        seg = SEGMENTS[seg_index]
        age = int(rng.integers(seg.age_range[0], seg.age_range[1] + 1))
        # Born between `age` and `age + 1` years before the reference day, so the age on that day is `age`.
        birth = REFERENCE_DAY - timedelta(days=int(365.25 * age + rng.integers(1, 364)))
        shoppers.append(
            Shopper(
                user_id=f"U{rng.integers(16**9, 16**10):x}",
                segment=seg_index,
                birth_date=birth,
                city=str(rng.choice(REGIONS[seg.region])),
                platform=str(rng.choice(PLATFORMS, p=[0.5, 0.35, 0.15])),
                activity=float(rng.lognormal(0.0, 0.6)),
            )
        )
    return shoppers


def city_region_of(shopper: Shopper) -> tuple[str, str]:
    """The shopper's city and region."""
    return shopper.city, SEGMENTS[shopper.segment].region


def birthdate_answer(shopper: Shopper, rng: np.random.Generator) -> tuple[str, str]:
    """Free-text answer to the birth-date question; some hide an impossible date or none at all.

    Returns (answer, kind) with kind one of valid / impossible / out_of_range / none.
    """
    roll = rng.random()
    day = shopper.birth_date.strftime("%d-%m-%Y")
    if roll < 0.04:
        return "31-02-1990", "impossible"
    if roll < 0.08:
        return f"born {rng.choice(['01-01-1890', '15-06-2021'])}", "out_of_range"
    if roll < 0.14:
        return str(rng.choice(["prefer not to say", "why do you ask?", "-"])), "none"
    template = str(rng.choice(["{d}", "born on {d}", "my birthday is {d} :)", "{d} (dd-mm-yyyy)"]))
    return template.format(d=day), "valid"
