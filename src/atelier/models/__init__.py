"""Models behind the three widgets, all keeping the contract of :mod:`atelier.models.base`.

Adding a model adds one line to ``REGISTRY`` (a factory reading its settings); the shared contract tests and
``atelier evaluate`` pick it up from there.
"""

from __future__ import annotations

from collections.abc import Callable

from atelier.config import Settings
from atelier.encoders import (
    ClipEncoder,
    ColourEncoder,
    ColourNamesEncoder,
    Encoder,
    HybridEncoder,
    ImageEncoder,
    TextEncoder,
    TfidfEncoder,
)
from atelier.errors import InputError
from atelier.models.base import Recommender
from atelier.models.collaborative import ItemCF, UserCF
from atelier.models.history import History
from atelier.models.popular import Popular, RandomItems, RecentPopular, SegmentPopular
from atelier.models.profile import Profile
from atelier.models.similar import SimilarStyles
from atelier.models.together import PairRules
from atelier.models.together_chain import TogetherChain
from atelier.models.two_tower import TwoTower


def _pairs(s: Settings) -> PairRules:
    t = s.together
    return PairRules(
        t.basket_kinds, t.basket_by, t.max_basket_size, t.min_count, t.min_shoppers, t.min_support,
        t.min_confidence, t.min_lift, t.rank_by,
    )  # fmt: skip


def _text(s: Settings) -> TextEncoder:
    return TextEncoder(s.similar.text_model, s.similar.text_fields)


def _image(s: Settings, network: str) -> ImageEncoder:
    return ImageEncoder(network, s.similar.batch_size, s.similar.image_runtime, s.similar.onnx_cache)


def hybrid_block(name: str, s: Settings) -> str:
    """The block a hybrid weight names: ``image`` is the network of ``similar.image_network`` (one block with
    it, not the same network twice); every other name is its own block."""
    return s.similar.image_network if name == "image" else name


def hybrid_parts(s: Settings) -> dict[str, Encoder]:
    """Every encoder that can be a block of the hybrid, as the settings configure it; ``mobilenet_v2`` and
    ``efficientnet_lite0`` name one network each, so the hybrid can hold both (``image``: see hybrid_block)."""
    parts: dict[str, Encoder] = {
        "tfidf": TfidfEncoder(s.similar.text_fields, s.similar.one_hot_fields, s.similar.tfidf_max_features),
        "text": _text(s),
        "mobilenet_v2": _image(s, "mobilenet_v2"),
        "efficientnet_lite0": _image(s, "efficientnet_lite0"),
        "colour": ColourEncoder(),
        "colour_names": ColourNamesEncoder(s.similar.text_fields),
        "clip": _clip(s),
    }
    parts["image"] = parts[hybrid_block("image", s)]
    return parts


def _clip(s: Settings) -> ClipEncoder:
    return ClipEncoder(s.similar.clip_model, s.similar.text_fields, s.similar.batch_size)


def _two_tower(s: Settings) -> TwoTower:
    t = s.two_tower
    return TwoTower(
        t.dimension, t.objective, t.epochs, t.batch_size, t.learning_rate, t.negatives, t.patience,
        t.validation_share, t.history, s.personal.half_life_days,
        hybrid_parts(s).get(s.personal.profile_encoder, s.personal.profile_encoder), t.content_dimension,
        s.personal.exclude_seen, t.seed,
    )  # fmt: skip


def _hybrid(s: Settings) -> HybridEncoder:
    parts = hybrid_parts(s)
    weights: dict[str, float] = {}
    for name, weight in s.similar.hybrid_weights.items():
        if weight > 0:
            block = hybrid_block(name, s)
            weights[block] = weights.get(block, 0.0) + weight
    return HybridEncoder({k: parts[k] for k in weights}, weights)


REGISTRY: dict[str, tuple[type[Recommender], Callable[[Settings], Recommender]]] = {
    "popular": (Popular, lambda s: Popular()),
    "popular_recent": (RecentPopular, lambda s: RecentPopular(s.models.recent_days)),
    "random": (RandomItems, lambda s: RandomItems(s.models.seed)),
    "pairs": (PairRules, _pairs),
    "tfidf": (
        SimilarStyles,
        lambda s: SimilarStyles(
            TfidfEncoder(s.similar.text_fields, s.similar.one_hot_fields, s.similar.tfidf_max_features),
            s.similar.exclude_variants,
            s.similar.index,
        ),
    ),
    "text": (SimilarStyles, lambda s: SimilarStyles(_text(s), s.similar.exclude_variants, s.similar.index)),
    "image": (
        SimilarStyles,
        lambda s: SimilarStyles(
            _image(s, s.similar.image_network), s.similar.exclude_variants, s.similar.index
        ),
    ),
    "colour": (
        SimilarStyles,
        lambda s: SimilarStyles(ColourEncoder(), s.similar.exclude_variants, s.similar.index),
    ),
    "clip": (SimilarStyles, lambda s: SimilarStyles(_clip(s), s.similar.exclude_variants, s.similar.index)),
    "hybrid": (
        SimilarStyles,
        lambda s: SimilarStyles(_hybrid(s), s.similar.exclude_variants, s.similar.index),
    ),
    "user_cf": (
        UserCF,
        lambda s: UserCF(s.personal.user_neighbours, s.personal.half_life_days, s.personal.exclude_seen),
    ),
    "item_cf": (
        ItemCF,
        lambda s: ItemCF(
            s.personal.item_neighbours,
            s.personal.half_life_days,
            s.personal.exclude_seen,
            s.personal.item_alpha,
        ),
    ),
    "profile": (
        Profile,
        lambda s: Profile(
            hybrid_parts(s).get(s.personal.profile_encoder, s.personal.profile_encoder),
            s.personal.profile_mode,
            s.personal.user_neighbours,
            s.personal.half_life_days,
            s.personal.exclude_seen,
        ),
    ),
    "history": (
        History,
        lambda s: History(
            s.personal.history_half_life_days, s.personal.variant_weight, s.personal.segment_columns
        ),
    ),
    "popular_segment": (SegmentPopular, lambda s: SegmentPopular(s.personal.segment_columns)),
    "two_tower": (TwoTower, lambda s: _two_tower(s)),
    "chain": (
        TogetherChain,
        lambda s: TogetherChain(
            _pairs(s), s.together.sources, s.together.bundle_min_count, s.together.bundle_max_size
        ),
    ),
}
#: the baselines every evaluation runs beside the models
BASELINES = ("popular", "popular_recent", "random")
#: measured only when named in ``evaluate.models``: their weights may have to come from the network
NAMED_ONLY = ("clip",)


def make_model(name: str, settings: Settings) -> Recommender:
    """A fresh (unfitted) model by registry name, configured from ``settings``."""
    if name not in REGISTRY:
        raise InputError(f"unknown model {name!r} (expected one of {', '.join(REGISTRY)})")
    return REGISTRY[name][1](settings)


def models_for(widget: str) -> list[str]:
    """Registry names of the models that can serve ``widget``."""
    return [name for name, (cls, _) in REGISTRY.items() if widget in cls.widgets]


__all__ = ["BASELINES", "NAMED_ONLY", "REGISTRY", "Recommender", "make_model", "models_for"]
