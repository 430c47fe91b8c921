"""The one contract every model keeps (after `implicit` and scikit-learn).

- The constructor only stores settings; ``fit(data) -> self`` learns; learned state ends in ``_``; attributes
  starting with ``_`` are caches derived from it, dropped by each ``fit``.
- ``recommend(users, n, exclude)`` ranks items for users; ``related(queries, n, exclude)`` ranks items for
  queries given as rows of an item matrix (one item for "similar", a basket for "together"). Both return
  ``(items, scores)`` arrays of shape (rows, n), best first, padded with -1 / -inf when fewer than n items can
  be ranked.
- ``save(dir)`` / ``load(dir)`` round-trip a fitted model; using a model before ``fit`` raises NotFittedError.

A model implements ``_fit`` and the scoring it supports (``_score_users`` and / or ``_score_queries``, dense
score rows where -inf means "cannot recommend"); the batching, exclusion and top-k are shared here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from atelier.errors import InputError, NotFittedError
from atelier.features.dataset import Dataset
from atelier.index.ranking import mask_rows, rank_in_batches
from atelier.params import constructor_params

Ranked = tuple[np.ndarray, np.ndarray]


class Recommender:
    """Base of every model; see the module docstring for the contract."""

    name: ClassVar[str] = "model"
    #: widgets the model can serve: "personal" (users), "together" and "similar" (item queries)
    widgets: ClassVar[frozenset[str]] = frozenset()
    #: whether ``recommend`` gives something useful for a user without any interaction
    handles_cold_users: ClassVar[bool] = False
    #: whether the model learns from interactions (a catalogue without any events cannot fit it)
    needs_interactions: ClassVar[bool] = True
    #: whether scores at or below ``2 * POPULARITY_PAD`` are popularity padding rather than the method's own
    pads_with_popularity: ClassVar[bool] = False

    n_users_: int
    n_items_: int

    # -- fitting -------------------------------------------------------------------------------------------------
    def fit(self, data: Dataset) -> Self:
        """Learn from ``data``; returns self."""
        # Private attributes are caches derived from the learned state (an index, a transposed matrix): a refit
        # must not serve the old ones.
        for key in [k for k in vars(self) if k.startswith("_") and not k.startswith("__")]:
            delattr(self, key)
        self._fit(data)
        return self._fitted_on(data)

    def _fitted_on(self, data: Dataset) -> Self:
        """Record the data's shape: set last, so a fit that failed half-way does not look fitted."""
        self.n_users_ = data.n_users
        self.n_items_ = data.n_items
        return self

    def _fit(self, data: Dataset) -> None:
        raise NotImplementedError

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "n_items_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"model {self.name!r} is not fitted: call fit(data) (or load a saved one) first"
            )

    # -- ranking -------------------------------------------------------------------------------------------------
    def recommend(self, users: np.ndarray, n: int, exclude: sp.csr_matrix | None = None) -> Ranked:
        """Top ``n`` items for each user index; ``exclude`` (rows aligned with ``users``) masks items."""
        self._check_fitted()
        users = np.asarray(users, dtype=np.int64)
        if users.size and (users.min() < 0 or users.max() >= self.n_users_):
            raise InputError(f"user index out of range 0..{self.n_users_ - 1}")
        _check_exclude(exclude, len(users), self.n_items_)

        def rows(start: int, stop: int) -> np.ndarray:
            scores = self._score_users(users[start:stop])
            mask_rows(scores, exclude, slice(start, stop))
            return scores

        return rank_in_batches(rows, len(users), n, self.n_items_)

    def related(self, queries: sp.csr_matrix, n: int, exclude: sp.csr_matrix | None = None) -> Ranked:
        """Top ``n`` items for each query row (items x weight); the query's own items are always excluded."""
        queries = self._checked_queries(queries, exclude)

        def rows(start: int, stop: int) -> np.ndarray:
            scores = self._score_queries(queries[start:stop])
            mask_rows(scores, queries, slice(start, stop))
            mask_rows(scores, exclude, slice(start, stop))
            return scores

        return rank_in_batches(rows, queries.shape[0], n, self.n_items_)

    def recommend_rows(
        self,
        rows: sp.csr_matrix,
        n: int,
        exclude: sp.csr_matrix | None = None,
        users: np.ndarray | None = None,
    ) -> Ranked:
        """Top ``n`` items for shoppers described by interaction rows (shoppers x items weights) rather than by a
        training index: a new shopper's first events, or a known one's history plus live events. ``users`` (the
        rows' training indices, -1 for a newcomer) lets a method use what it learned about a known shopper."""
        self._check_fitted()
        rows = sp.csr_matrix(rows)
        if rows.shape[1] != self.n_items_:
            raise InputError(f"rows have {rows.shape[1]} item columns, the model knows {self.n_items_}")
        _check_exclude(exclude, rows.shape[0], self.n_items_)
        users = np.full(rows.shape[0], -1) if users is None else np.asarray(users, dtype=np.int64)
        if users.shape != (rows.shape[0],):
            raise InputError(f"users has shape {users.shape}, expected ({rows.shape[0]},)")

        def scored(start: int, stop: int) -> np.ndarray:
            scores = self._score_rows(rows[start:stop], users[start:stop])
            mask_rows(scores, exclude, slice(start, stop))
            return scores

        return rank_in_batches(scored, rows.shape[0], n, self.n_items_)

    def _score_rows(self, rows: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        """Scores for interaction ``rows`` of shoppers ``users`` (training indices, -1 for a newcomer)."""
        raise NotImplementedError(f"model {self.name!r} does not rank for interaction rows")

    def _checked_queries(self, queries: sp.csr_matrix, exclude: sp.csr_matrix | None) -> sp.csr_matrix:
        """The queries as CSR, once the model is fitted and the queries and exclusions have its item columns."""
        self._check_fitted()
        queries = sp.csr_matrix(queries)
        if queries.shape[1] != self.n_items_:
            raise InputError(f"queries have {queries.shape[1]} item columns, the model knows {self.n_items_}")
        _check_exclude(exclude, queries.shape[0], self.n_items_)
        return queries

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"model {self.name!r} does not recommend for users")

    def _score_queries(self, queries: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError(f"model {self.name!r} does not rank items for item queries")

    def warm(self) -> Self:
        """Build the caches a first request would otherwise build (a served model calls it once, after loading)."""
        self._check_fitted()
        return self

    # -- persistence ---------------------------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (scikit-learn style): what ``save`` writes beside the learned state."""
        return constructor_params(self)

    def save(self, folder: str | Path) -> Path:
        """Write the settings (JSON) and the learned state (``*_`` attributes: arrays, sparse matrices, numbers)."""
        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        scalars: dict[str, Any] = {}
        for key, value in vars(self).items():
            if not key.endswith("_"):
                continue
            if sp.issparse(value):
                csr = sp.csr_matrix(value)
                arrays |= {
                    f"{key}__data": csr.data,
                    f"{key}__indices": csr.indices,
                    f"{key}__indptr": csr.indptr,
                }
                scalars[key] = {"sparse_shape": list(csr.shape)}
            elif isinstance(value, np.ndarray):
                arrays[key] = value
            else:
                scalars[key] = value
        meta = {"model": self.name, "params": self.get_params(), "state": scalars}
        (folder / "model.json").write_text(json.dumps(meta, indent=2))
        np.savez(folder / "state.npz", **arrays)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Self:
        """A model saved by ``save``."""
        folder = Path(folder)
        meta_path = folder / "model.json"
        if not meta_path.is_file():
            raise InputError(f"{folder}: no model.json (expected a folder written by model.save)")
        meta = json.loads(meta_path.read_text())
        if meta.get("model") != cls.name:
            raise InputError(f"{folder} holds model {meta.get('model')!r}, not {cls.name!r}")
        model = cls(**meta["params"])
        with np.load(folder / "state.npz", allow_pickle=False) as arrays:
            for key, value in meta["state"].items():
                if isinstance(value, dict) and "sparse_shape" in value:
                    parts = (arrays[f"{key}__data"], arrays[f"{key}__indices"], arrays[f"{key}__indptr"])
                    value = sp.csr_matrix(parts, shape=tuple(value["sparse_shape"]))
                setattr(model, key, value)
            for key in arrays.files:
                if "__" not in key:
                    setattr(model, key, arrays[key])
        return model

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


def _check_exclude(exclude: sp.csr_matrix | None, n_rows: int, n_items: int) -> None:
    if exclude is not None and exclude.shape != (n_rows, n_items):
        raise InputError(f"exclude has shape {exclude.shape}, expected ({n_rows}, {n_items})")
