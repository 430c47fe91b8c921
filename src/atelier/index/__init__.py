"""Vector indexes behind one small interface (add, search, save, load): exact, and HNSW or Annoy for large
catalogues."""

from atelier.index.annoy import AnnoyIndex
from atelier.index.exact import ExactIndex
from atelier.index.hnsw import HnswIndex

__all__ = ["AnnoyIndex", "ExactIndex", "HnswIndex"]
