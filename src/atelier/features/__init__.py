"""Features: shop ids mapped to integers (in exactly one place), the interactions models train on."""

from atelier.features.dataset import Dataset
from atelier.features.ids import IdMap

__all__ = ["Dataset", "IdMap"]
