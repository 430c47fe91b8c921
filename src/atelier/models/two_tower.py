"""``two_tower``: a shopper tower and an item tower trained so that their dot product scores what a shopper takes.

The seeds' third personalisation method. The shopper tower reads the shopper's id, age group, region and recent
history; the item tower the item's id, department, colour, target audience and content embedding (a Similar
Styles encoder's vectors, reduced to ``content_dimension`` numbers). Training uses Adam on the seeds' squared
error (1 for a (shopper, item) pair that happened, 0 for ``negatives`` sampled items) or, with
``objective="softmax"``, an in-batch sampled softmax; a ``validation_share`` of the pairs is held out and
training stops once its loss has not improved for ``patience`` epochs (the best epoch's weights are kept).

A shopper without training interactions is read from their demographics and history alone (the unknown id
row stays zero), a newcomer known only by live events from those events; an item nobody took yet is scored from
its catalogue columns and content alone, so new arrivals can be recommended. The network lives in
:mod:`atelier.models.towers` and torch is imported only when the model is fitted or loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

import numpy as np
import polars as pl
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD

from atelier.encoders import make_encoder
from atelier.encoders.base import Encoder
from atelier.errors import InputError
from atelier.features.dataset import Dataset
from atelier.features.items import dense_codes
from atelier.features.user_items import top_n_per_row, weighted_matrix
from atelier.models.base import Recommender
from atelier.progress import progress

ITEM_COLUMNS = ("department", "color", "target_audience")
USER_COLUMNS = ("age_group", "region")
OBJECTIVES = ("mse", "softmax")
WEIGHTS_FILE = "towers.pt"


class TwoTower(Recommender):
    """Dot product of a shopper tower and an item tower (PyTorch), trained with early stopping."""

    name = "two_tower"
    widgets = frozenset({"personal"})
    handles_cold_users = True

    def __init__(
        self,
        dimension: int = 64,
        objective: str = "mse",
        epochs: int = 20,
        batch_size: int = 1024,
        learning_rate: float = 1e-3,
        negatives: int = 4,
        patience: int = 2,
        validation_share: float = 0.1,
        history: int = 20,
        half_life_days: float | None = 90.0,
        encoder: str | dict | Encoder = "tfidf",
        content_dimension: int = 32,
        exclude_seen: bool = True,
        seed: int = 0,
    ):
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
        self.dimension = dimension
        self.objective = objective
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.negatives = negatives
        self.patience = patience
        self.validation_share = validation_share
        self.history = history
        self.half_life_days = half_life_days
        self.encoder = make_encoder(encoder)
        self.content_dimension = content_dimension
        self.exclude_seen = exclude_seen
        self.seed = seed

    # -- training ----------------------------------------------------------------------------------------------
    def _fit(self, data: Dataset) -> None:
        from atelier.models import towers

        self.matrix_ = weighted_matrix(data, self.half_life_days)
        active_users, active_items = data.active_users, data.active_items
        self.user_ids_ = np.where(active_users, np.cumsum(active_users), 0).astype(np.int64)
        self.item_ids_ = np.where(active_items, np.cumsum(active_items), 0).astype(np.int64)
        self.ages_, self.regions_ = (_codes(data.users_table, c) for c in USER_COLUMNS)
        self.item_categories_ = np.stack([_codes(data.products, c) for c in ITEM_COLUMNS], axis=1)
        self.content_ = self._content(data)
        sizes = self._sizes()
        settings = towers.Training(
            self.objective, self.epochs, self.batch_size, self.learning_rate, self.negatives, self.patience,
            self.validation_share, self.seed,
        )  # fmt: skip
        with progress() as bar:
            task = bar.add_task("training the two towers", total=self.epochs)

            def on_epoch(epoch: int, loss: float) -> None:
                bar.update(
                    task, completed=epoch, description=f"training the two towers (validation {loss:.4f})"
                )

            trained = towers.train(
                sizes, self._features(), self.matrix_.tocoo(), self._history_rows, settings, on_epoch
            )
        self._towers = trained.towers
        self.epoch_seconds_ = np.array(trained.epoch_seconds)
        self.validation_losses_ = np.array(trained.validation_losses)
        self.best_epoch_ = trained.best_epoch
        self.item_vectors_ = self._item_vectors()

    def _content(self, data: Dataset) -> np.ndarray:
        """Items x ``content_dimension`` content vectors (unit rows; zero for an item the encoder cannot read)."""
        if not self.content_dimension or not data.n_items:
            return np.zeros((data.n_items, 0), dtype=np.float32)
        vectors, encoded = self.encoder.fit_encode(data.products)
        width = min(self.content_dimension, vectors.shape[1] - 1, data.n_items - 1)
        if width >= 1 and (sp.issparse(vectors) or vectors.shape[1] > self.content_dimension):
            with np.errstate(
                invalid="ignore"
            ):  # a catalogue without variance makes its explained-variance ratio 0/0
                vectors = TruncatedSVD(width, random_state=self.seed).fit_transform(vectors)
        vectors = np.asarray(vectors.toarray() if sp.issparse(vectors) else vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        vectors[~np.asarray(encoded, dtype=bool)] = 0.0
        return vectors

    def _sizes(self):
        from atelier.models.towers import TowerSizes

        return TowerSizes(
            user_ids=int(self.user_ids_.max(initial=0)) + 1,
            ages=int(self.ages_.max(initial=0)) + 1,
            regions=int(self.regions_.max(initial=0)) + 1,
            item_ids=int(self.item_ids_.max(initial=0)) + 1,
            item_categories=tuple(int(c) + 1 for c in self.item_categories_.max(axis=0, initial=0)),
            content=int(self.content_.shape[1]),
            dimension=self.dimension,
        )

    def _features(self):
        from atelier.models.towers import Features

        return Features(
            self.user_ids_, self.ages_, self.regions_, self.item_ids_, self.item_categories_, self.content_
        )

    def _history_rows(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        """The ``history`` heaviest (most recent, most committed) items of each row, weights summing to 1."""
        from atelier.models.towers import sum_to_one

        return sum_to_one(top_n_per_row(sp.csr_matrix(rows, dtype=np.float32), self.history))

    def _item_vectors(self) -> np.ndarray:
        import torch

        features = self._features()
        with torch.no_grad():
            return (
                self._towers.items(*features.item_tensors(np.arange(len(self.item_ids_))))
                .numpy()
                .astype(np.float32)
            )

    # -- scoring -----------------------------------------------------------------------------------------------
    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self._score_rows(self.matrix_[users], users)

    def _score_rows(self, rows: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            batch = self._features().user_batch(users, self._history_rows(rows))
            vectors = self._network().users(batch).numpy()
        scores = (vectors @ self.item_vectors_.T).astype(np.float64)
        if self.exclude_seen:
            part = sp.csr_matrix(rows).tocoo()
            scores[part.row, part.col] = -np.inf
        return scores

    def _network(self):
        if getattr(self, "_towers", None) is None:
            raise InputError("two_tower has no network: fit it, or load it from a folder holding towers.pt")
        return self._towers

    # -- persistence: the numpy state through the base class, the network's weights beside it --------------------
    def save(self, folder: str | Path) -> Path:
        import torch

        folder = super().save(folder)
        torch.save(self._network().state_dict(), folder / WEIGHTS_FILE)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Self:
        import torch

        from atelier.models.towers import Towers

        model = super().load(folder)
        weights = Path(folder) / WEIGHTS_FILE
        if not weights.is_file():
            raise InputError(f"{folder}: no {WEIGHTS_FILE} (expected a folder written by two_tower.save)")
        towers = Towers(model._sizes())
        try:
            towers.load_state_dict(torch.load(weights, weights_only=True))
        except (RuntimeError, KeyError) as error:
            raise InputError(
                f"{weights}: weights do not fit the saved sizes ({str(error).splitlines()[0]})"
            ) from None
        towers.eval()
        model._towers = towers
        return model

    def training_summary(self) -> dict[str, object]:
        """Epochs run, the best one, seconds per epoch and the validation losses: for reports and benchmarks."""
        self._check_fitted()
        return {
            "epochs_run": len(self.epoch_seconds_),
            "best_epoch": int(self.best_epoch_),
            "seconds_per_epoch": float(np.median(self.epoch_seconds_)) if len(self.epoch_seconds_) else 0.0,
            "validation_losses": [round(float(x), 6) for x in self.validation_losses_],
        }


def _codes(table: pl.DataFrame, column: str) -> np.ndarray:
    """Per row, 1 + the dense code of ``column`` (0 when the column is missing or the value null)."""
    if column not in table.columns or not table.height:
        return np.zeros(table.height, dtype=np.int64)
    return (dense_codes(table[column].cast(pl.String)) + 1).astype(np.int64)
