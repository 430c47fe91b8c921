"""Typed settings: one object, read from a TOML file with ``ATELIER_*`` environment overrides.

Precedence (highest first): keyword arguments, environment variables (``ATELIER_INGEST__CHUNK_SIZE=50000``;
nested sections are joined with ``__``, lists and tables are given as JSON), the TOML file, the defaults below.
The TOML file is the one passed to :func:`load_settings`, else ``$ATELIER_CONFIG``, else ``./atelier.toml`` when
it exists. ``atelier.example.toml`` at the repository root documents every setting.
"""

from __future__ import annotations

import itertools
import os
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from atelier.errors import ConfigError


class _Section(BaseModel):
    """A settings section: unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


InteractionKind = Literal["view", "click", "wishlist", "bag", "purchase"]
ANY = "*"


class InteractionRule(_Section):
    """Maps an (event_name, button_name) pair of the raw log to an interaction kind and weight.

    ``"*"`` matches any value. When several rules match a row the most specific wins:
    exact event and button, then any event with that button, then that event with any button.
    """

    event: str = ANY
    button: str = ANY
    kind: InteractionKind
    weight: float = Field(gt=0)

    @model_validator(mode="after")
    def _not_everything(self) -> InteractionRule:
        if self.event == ANY and self.button == ANY:
            raise ValueError("a rule must name an event or a button; '*' for both would keep every row")
        return self


class AgeGroup(_Section):
    """A named, inclusive age band such as ``{name = "25-34", min = 25, max = 34}``."""

    name: str
    min: int
    max: int


DEFAULT_RULES = [
    InteractionRule(event="product_details_page_view", kind="view", weight=1),
    InteractionRule(event="product_similar_items_clicking", kind="click", weight=2),
    InteractionRule(button="heart_button", kind="wishlist", weight=3),
    InteractionRule(button="bag_button", kind="bag", weight=4),
    InteractionRule(event="add_to_bag", kind="bag", weight=4),
    InteractionRule(event="purchase", kind="purchase", weight=5),
]

DEFAULT_AGE_GROUPS = [
    AgeGroup(name="10-17", min=10, max=17),
    AgeGroup(name="18-24", min=18, max=24),
    AgeGroup(name="25-34", min=25, max=34),
    AgeGroup(name="35-44", min=35, max=44),
    AgeGroup(name="45-54", min=45, max=54),
    AgeGroup(name="55-64", min=55, max=64),
    AgeGroup(name="65+", min=65, max=100),
]


DEFAULT_KIND_WEIGHTS: dict[str, float] = {"view": 1, "click": 2, "wishlist": 3, "bag": 4, "purchase": 5}


class EventsCsvSettings(_Section):
    """Column mapping for ``--format events-csv``: any user / item / event / time log."""

    user: str = Field("user_id", description="column holding the user id")
    item: str = Field("item_id", description="column holding the product id")
    event: str | None = Field(
        "event", description="column holding the event type (None: every row is a view)"
    )
    timestamp: str | None = Field("timestamp", description="column holding the time (None: no time)")
    session: str | None = Field(None, description="column holding a session id, if any")
    column_names: list[str] | None = Field(
        None,
        description="names for a file without header, e.g. Taobao's user_id,item_id,category_id,behavior_type,timestamp",
    )
    delimiter: str = ","
    event_kinds: dict[str, InteractionKind] = Field(
        default_factory=lambda: {
            "pv": "view",
            "view": "view",
            "ITEM_DETAIL": "view",
            "click": "click",
            "CLICK": "click",
            "fav": "wishlist",
            "wishlist": "wishlist",
            "cart": "bag",
            "ADD_TO_CART": "bag",
            "buy": "purchase",
            "purchase": "purchase",
            "BOOKING": "purchase",
        },
        description="event value -> interaction kind; events not listed are filtered out",
    )


class IngestSettings(_Section):
    """How raw exports are read and cleaned."""

    chunk_size: int = Field(100_000, ge=1_000, description="event rows read per chunk")
    interaction_rules: list[InteractionRule] = Field(default_factory=lambda: list(DEFAULT_RULES))
    age_groups: list[AgeGroup] = Field(default_factory=lambda: list(DEFAULT_AGE_GROUPS))
    kind_weights: dict[InteractionKind, float] = Field(
        default_factory=lambda: dict(DEFAULT_KIND_WEIGHTS),
        description="weight of each kind for sources without TwentyToo rules (H&M, events-csv, baskets)",
    )
    events_csv: EventsCsvSettings = Field(default_factory=EventsCsvSettings)
    images_dir: str | None = Field(
        None, description="folder of product pictures; unset: images/ beside the catalogue file"
    )
    min_age: int = 10
    max_age: int = 100
    product_id_pattern: str = r"[a-fA-F0-9]{32,}"
    birthdate_pattern: str = r"\b\d{2}-\d{2}-\d{4}\b"
    birthdate_format: str = "%d-%m-%Y"
    # Tried in order on the rows still unparsed; a "T" separator and a trailing "Z" are normalised away first.
    timestamp_formats: list[str] = Field(
        default_factory=lambda: [
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f%:z",
            "%Y-%m-%d %H:%M:%S%.f%z",
            "%Y/%m/%d %H:%M:%S",
            "%d/%m/%Y %H:%M:%S",
            "%Y-%m-%d",
        ]
    )
    unknown_products: Literal["quarantine", "keep"] | None = Field(
        None,
        description="events naming a product missing from the catalogue: quarantine them, or keep them and add "
        "a bare product row; unset: the format's default (twentytoo quarantines, hm keeps, because the public "
        "H&M sample holds only a quarter of the articles its transactions name)",
    )

    @property
    def events_of_interest(self) -> set[str]:
        """Event names that some rule keeps (whatever the button)."""
        return {r.event for r in self.interaction_rules if r.event != ANY}

    @property
    def buttons_of_interest(self) -> set[str]:
        """Button names that some rule keeps (whatever the event)."""
        return {r.button for r in self.interaction_rules if r.button != ANY}

    @field_validator("age_groups")
    @classmethod
    def _groups_ordered(cls, groups: list[AgeGroup]) -> list[AgeGroup]:
        for g in groups:
            if g.min > g.max:
                raise ValueError(f"age group {g.name!r}: min {g.min} is above max {g.max}")
        for a, b in itertools.pairwise(groups):
            if b.min <= a.max:
                raise ValueError(f"age groups {a.name!r} and {b.name!r} overlap or are out of order")
        return groups

    @model_validator(mode="after")
    def _rules_unique(self) -> IngestSettings:
        seen: set[tuple[str, str]] = set()
        for r in self.interaction_rules:
            if (r.event, r.button) in seen:
                raise ValueError(f"two interaction rules for event={r.event!r}, button={r.button!r}")
            seen.add((r.event, r.button))
        if self.min_age >= self.max_age:
            raise ValueError(f"min_age {self.min_age} must be below max_age {self.max_age}")
        return self


class ServiceSettings(_Section):
    """``atelier serve``: where the service keeps shoppers, sessions and events, and who may write."""

    store_url: str = "sqlite:///var/service/atelier.db"
    rate_limit_per_minute: int = Field(
        600, ge=1, description="per API key and worker process (each worker keeps its own count)"
    )
    read_requires_key: bool = False
    cookie_secure: bool = False
    workers: int = Field(
        2, ge=1, le=64, description="server processes; each loads its own copy of the artefacts"
    )
    follow_reload_seconds: float = Field(
        1.0, gt=0, description="how often a worker checks the store for a reload made through another"
    )
    worker_start_seconds: int = Field(
        120,
        ge=5,
        description="how long a worker may take to load the artefacts (after SIGHUP) or to answer the "
        "supervisor's health check before it counts as hung",
    )


class SampleSettings(_Section):
    """Size of the synthetic shop that ``atelier sample`` and ``atelier demo`` write."""

    products: int = Field(600, ge=20)
    users: int = Field(2_000, ge=10)
    events: int = Field(60_000, ge=100)
    seed: int = 7


class ModelSettings(_Section):
    """Settings the models share."""

    recent_days: float = Field(14.0, gt=0, description="window of the popular_recent baseline, in days")
    seed: int = 7


class TogetherSettings(_Section):
    """Top Picks Together: how baskets are formed and which pair rules are kept."""

    basket_kinds: list[InteractionKind] = Field(default_factory=lambda: ["bag", "purchase"], min_length=1)
    basket_by: Literal["session", "day"] = "session"
    max_basket_size: int = Field(50, ge=2)
    min_count: int = Field(2, ge=1)
    min_shoppers: int = Field(2, ge=1)
    min_support: float = Field(0.0, ge=0, le=1)
    min_confidence: float = Field(0.0, ge=0, le=1)
    min_lift: float = Field(1.0, ge=0)
    rank_by: Literal["confidence", "lift"] = "confidence"
    bundle_min_count: int = Field(3, ge=1)
    bundle_max_size: int = Field(4, ge=3)
    sources: list[Literal["rules", "variants", "department_pairs", "department_popular", "popular"]] = Field(
        default_factory=lambda: ["rules", "variants", "department_pairs", "department_popular", "popular"],
        min_length=1,
    )


# the blocks the hybrid encoder can weigh (atelier.models.hybrid_parts builds them)
HYBRID_BLOCKS = (
    "tfidf", "text", "image", "mobilenet_v2", "efficientnet_lite0", "colour", "colour_names", "clip",
)  # fmt: skip


class SimilarSettings(_Section):
    """Similar Styles: what the text encoders read and how neighbours are chosen."""

    text_fields: list[str] = Field(
        default_factory=lambda: ["title", "target_audience", "color", "department", "description"],
        min_length=1,
    )
    one_hot_fields: list[str] = Field(default_factory=lambda: ["color", "target_audience", "department"])
    tfidf_max_features: int = Field(5_000, ge=10)
    text_model: str = "all-MiniLM-L6-v2"
    clip_model: str = "patrickjohncyh/fashion-clip"
    image_network: Literal["mobilenet_v2", "efficientnet_lite0"] = "mobilenet_v2"
    batch_size: int = Field(32, ge=1)
    image_runtime: Literal["onnx", "torch"] = "onnx"
    onnx_cache: str | None = None
    hybrid_weights: dict[str, float] = Field(
        # a focused grid on the FPI tuning sample, scored as `atelier tune-hybrid` scores (docs/similar.md)
        default_factory=lambda: {
            "text": 0.186,
            "mobilenet_v2": 0.279,
            "efficientnet_lite0": 0.279,
            "tfidf": 0.186,
            "colour": 0.05,
            "colour_names": 0.02,
        }
    )
    exclude_variants: bool = True
    index: Literal["exact", "hnsw", "annoy"] = "exact"
    serve: list[Literal["tfidf", "text", "image", "colour", "clip", "hybrid"]] = Field(
        default_factory=lambda: ["tfidf", "colour"], min_length=1
    )

    @field_validator("hybrid_weights")
    @classmethod
    def _known_blocks(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = set(weights) - set(HYBRID_BLOCKS)
        if unknown or not any(w > 0 for w in weights.values()) or any(w < 0 for w in weights.values()):
            raise ValueError(
                f"expected non-negative weights (one above 0) of {' / '.join(HYBRID_BLOCKS)}, found {weights}"
            )
        return weights


class PersonalSettings(_Section):
    """Personalized Picks: how the personal models weigh interactions and how many neighbours they use."""

    half_life_days: float | None = Field(90.0, gt=0)
    user_neighbours: int = Field(100, ge=1)
    item_neighbours: int = Field(200, ge=1)
    item_alpha: float = Field(0.75, ge=0, le=1)
    exclude_seen: bool = True
    profile_encoder: Literal["tfidf", "text", "image", "colour", "clip"] = "tfidf"
    profile_mode: Literal["items", "users", "both"] = "both"
    history_half_life_days: float | None = Field(90.0, gt=0)
    variant_weight: float = Field(0.5, ge=0)
    segment_columns: list[str] = Field(default_factory=lambda: ["age_group", "region"], min_length=1)
    method: Literal["history", "user_cf", "item_cf", "profile", "two_tower"] = "history"
    serve: list[Literal["history", "user_cf", "item_cf", "profile", "two_tower"]] = Field(
        default_factory=lambda: ["history", "user_cf", "item_cf", "profile", "two_tower"], min_length=1
    )


class TwoTowerSettings(_Section):
    """Personalized Picks' two-tower model: its size and how it is trained."""

    dimension: int = Field(64, ge=2)
    objective: Literal["mse", "softmax"] = "mse"
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(1024, ge=2)
    learning_rate: float = Field(1e-3, gt=0)
    negatives: int = Field(4, ge=1)
    patience: int = Field(2, ge=1)
    validation_share: float = Field(0.1, ge=0, le=0.5)
    history: int = Field(20, ge=1)
    content_dimension: int = Field(32, ge=0)
    seed: int = 0


Widget = Literal["together", "similar", "personal"]
WIDGETS: tuple[Widget, ...] = ("together", "similar", "personal")


class EvaluateSettings(_Section):
    """How ``atelier evaluate`` splits the data, what it measures and how it reports."""

    k: list[int] = Field(default_factory=lambda: [5, 10], min_length=1)
    split: Literal["date", "last-n"] = "date"
    split_date: date | None = None
    test_days: int = Field(30, ge=1)
    leave_last: int = Field(1, ge=1)
    basket_holdout: float = Field(0.2, gt=0, lt=1)
    truth_kinds: list[InteractionKind] = Field(
        default_factory=lambda: ["view", "click", "wishlist", "bag", "purchase"], min_length=1
    )
    exclude_seen: bool = True
    basket_kinds: list[InteractionKind] = Field(default_factory=lambda: ["bag", "purchase"], min_length=1)
    max_basket_queries: int = Field(20_000, ge=10)
    similar_labels: list[str] = Field(
        default_factory=lambda: ["department", "color", "target_audience"], min_length=1
    )
    similar_queries: int = Field(2_000, ge=10)
    similar_catalogue: int | None = Field(None, ge=10)
    similar_pictured_only: bool = False
    segments: list[str] = Field(default_factory=lambda: ["age_group"])
    widgets: list[Widget] = Field(default_factory=lambda: list(WIDGETS), min_length=1)
    models: list[str] = Field(default_factory=list)
    baseline: str = "popular"
    bootstrap: int = Field(200, ge=20)
    seed: int = 7

    @field_validator("k")
    @classmethod
    def _k_positive(cls, k: list[int]) -> list[int]:
        if any(v < 1 for v in k):
            raise ValueError(f"every k must be at least 1, found {k}")
        return sorted(set(k))


class Settings(BaseSettings):
    """Every setting of Atelier, validated once."""

    model_config = SettingsConfigDict(
        env_prefix="ATELIER_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    ingest: IngestSettings = Field(default_factory=IngestSettings)
    sample: SampleSettings = Field(default_factory=SampleSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    together: TogetherSettings = Field(default_factory=TogetherSettings)
    similar: SimilarSettings = Field(default_factory=SimilarSettings)
    personal: PersonalSettings = Field(default_factory=PersonalSettings)
    two_tower: TwoTowerSettings = Field(default_factory=TwoTowerSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    evaluate: EvaluateSettings = Field(default_factory=EvaluateSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # toml_file comes from model_config; load_settings() sets it on a subclass (None reads nothing).
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(path: str | Path | None = None, **overrides: object) -> Settings:
    """Read settings from ``path`` (or ``$ATELIER_CONFIG``, or ``./atelier.toml``) and the environment."""
    toml_path: Path | None
    if path is not None:
        toml_path = Path(path)
    elif os.environ.get("ATELIER_CONFIG"):
        toml_path = Path(os.environ["ATELIER_CONFIG"])
    elif Path("atelier.toml").is_file():
        toml_path = Path("atelier.toml")
    else:
        toml_path = None
    if toml_path is not None and not toml_path.is_file():
        raise ConfigError(f"config file {toml_path} not found (expected a TOML file)")
    reader = type(
        "Settings", (Settings,), {"model_config": {**Settings.model_config, "toml_file": toml_path}}
    )
    try:
        return reader(**overrides)
    except ValidationError as exc:
        where = f"config {toml_path}" if toml_path else "settings"
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{where} is invalid: {problems}") from None
    except Exception as exc:  # a TOML syntax error or an unreadable file
        raise ConfigError(f"cannot read config {toml_path}: {exc}") from None


def with_section(settings: Settings, section: str, **changes: object) -> Settings:
    """``settings`` with some values of one section replaced (e.g. from the command line), validated like the file."""
    current = getattr(settings, section)
    try:
        updated = type(current).model_validate(current.model_dump() | changes)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid {section} option: {problems}") from None
    return settings.model_copy(update={section: updated})
