"""Vector indexes behind one small interface (add, search, save, load): exact today, ANN back ends beside it."""

from atelier.index.exact import ExactIndex

__all__ = ["ExactIndex"]
