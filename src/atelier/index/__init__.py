"""Vector indexes behind one small interface (add, search, save, load): exact, and HNSW for large catalogues."""

from atelier.index.exact import ExactIndex
from atelier.index.hnsw import HnswIndex

__all__ = ["ExactIndex", "HnswIndex"]
