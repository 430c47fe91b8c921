"""Shop ids <-> contiguous integers. This is the one place ids are mapped; models only see integers."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from atelier.errors import NotFoundError


class IdMap:
    """An ordered set of string ids; ``index_of`` maps ids to positions (-1 when unknown)."""

    def __init__(self, ids: Iterable[str]):
        index = _index(ids)
        if not index.is_unique:
            raise ValueError("IdMap ids must be unique")
        self._index = index

    @classmethod
    def union(cls, *parts: Iterable[str]) -> IdMap:
        """Ids of every part, each once, in first-seen order."""
        seen = pd.Index([], dtype=object)
        for part in parts:
            seen = seen.append(
                pd.Index(pd.unique(pd.Index(list(part), dtype=object))).difference(seen, sort=False)
            )
        return cls(seen)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, id_: object) -> bool:
        return id_ in self._index

    @property
    def ids(self) -> np.ndarray:
        """The ids, position i holding the id of integer i."""
        return self._index.to_numpy()

    def index_of(self, ids: Iterable[str]) -> np.ndarray:
        """Positions of ``ids`` (int64), -1 for an id this map does not hold."""
        return self._index.get_indexer(_index(ids)).astype(np.int64)

    def one(self, id_: str, what: str = "id") -> int:
        """Position of one id; NotFoundError naming it when unknown."""
        pos = self._index.get_indexer([id_])[0]
        if pos < 0:
            raise NotFoundError(f"unknown {what} {id_!r}")
        return int(pos)

    def to_ids(self, positions: np.ndarray) -> np.ndarray:
        """Ids at ``positions`` (None where a position is -1, the padding of short lists)."""
        positions = np.asarray(positions)
        out = (
            self.ids[np.clip(positions, 0, max(len(self) - 1, 0))]
            if len(self)
            else np.full(positions.shape, None)
        )
        return np.where(positions >= 0, out, None)


def _index(ids: Iterable[str]) -> pd.Index:
    """A pandas Index of ids; arrays and polars / pandas Series are taken without a Python list in between."""
    values = ids.to_numpy() if hasattr(ids, "to_numpy") else np.asarray(list(ids), dtype=object)
    return pd.Index(values, dtype=object)
