"""Atelier: a fashion recommendation engine (Top Picks Together, Similar Styles, Personalized Picks)."""

__version__ = "0.1.0"
