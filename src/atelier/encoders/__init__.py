"""Encoders for Similar Styles: every one turns products into L2-normalised vectors (see ``base``)."""

from __future__ import annotations

from atelier.encoders.base import Encoder
from atelier.encoders.clip import ClipEncoder
from atelier.encoders.cnn import ImageEncoder
from atelier.encoders.colour import ColourEncoder
from atelier.encoders.colour_names import ColourNamesEncoder
from atelier.encoders.hybrid import HybridEncoder
from atelier.encoders.text import TextEncoder
from atelier.encoders.tfidf import TfidfEncoder
from atelier.errors import InputError

ENCODERS: dict[str, type[Encoder]] = {
    cls.name: cls
    for cls in (
        TfidfEncoder,
        TextEncoder,
        ImageEncoder,
        ColourEncoder,
        ColourNamesEncoder,
        ClipEncoder,
        HybridEncoder,
    )
}


def make_encoder(spec: str | dict | Encoder) -> Encoder:
    """An encoder from its name, or from ``{"name": ..., **constructor arguments}``."""
    if isinstance(spec, Encoder):
        return spec
    params = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = params.pop("name")
    if name not in ENCODERS:
        raise InputError(f"unknown encoder {name!r} (expected one of {', '.join(ENCODERS)})")
    return ENCODERS[name](**params)


__all__ = [
    "ENCODERS", "ClipEncoder", "ColourEncoder", "ColourNamesEncoder", "Encoder", "HybridEncoder", "ImageEncoder",
    "TextEncoder", "TfidfEncoder", "make_encoder",
]  # fmt: skip
