"""The two towers of ``two_tower`` and their training loop (PyTorch; imported only when the model is used).

The shopper tower reads the shopper's id, age group, region and recent history (a weighted bag of item ids); the
item tower reads the item's id, department, colour, target audience and its content embedding. Each ends in a
vector of ``dimension`` numbers; their dot product scores the pair.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

CATEGORY_DIMENSION = 8  # a small embedding per demographic or catalogue column


@dataclass(frozen=True)
class TowerSizes:
    """Vocabulary sizes (index 0 = unknown in each) and widths: enough to rebuild the towers for loading."""

    user_ids: int
    ages: int
    regions: int
    item_ids: int
    item_categories: tuple[int, ...]
    content: int
    dimension: int


class Towers(nn.Module):
    """Shopper and item towers whose outputs share one space."""

    def __init__(self, sizes: TowerSizes):
        super().__init__()
        d = sizes.dimension
        self.sizes = sizes
        # The id tables have a row per shopper or item: sparse gradients update only the rows a batch touches.
        # Row 0 (an unknown shopper or an item nobody took) stays zero: training never sees it, so such a shopper
        # is read from demographics and history alone, and such an item from its columns and content alone.
        self.user_id = nn.Embedding(sizes.user_ids, d, sparse=True, padding_idx=0)
        self.age = nn.Embedding(sizes.ages, CATEGORY_DIMENSION)
        self.region = nn.Embedding(sizes.regions, CATEGORY_DIMENSION)
        self.history = nn.EmbeddingBag(sizes.item_ids, d, mode="sum", sparse=True, padding_idx=0)
        self.user_mlp = _mlp(2 * d + 2 * CATEGORY_DIMENSION, d)
        self.item_id = nn.Embedding(sizes.item_ids, d, sparse=True, padding_idx=0)
        self.categories = nn.ModuleList(nn.Embedding(n, CATEGORY_DIMENSION) for n in sizes.item_categories)
        self.content = nn.Linear(sizes.content, d) if sizes.content else None
        width = d + CATEGORY_DIMENSION * len(sizes.item_categories) + (d if sizes.content else 0)
        self.item_mlp = _mlp(width, d)
        for table in (self.user_id, self.item_id, self.history):
            nn.init.normal_(table.weight, std=0.05)
            with torch.no_grad():
                table.weight[0].zero_()

    def users(self, batch: UserBatch) -> torch.Tensor:
        """Shopper vectors (batch x dimension)."""
        history = self.history(
            batch.history_items, batch.history_offsets, per_sample_weights=batch.history_weights
        )
        parts = [self.user_id(batch.ids), self.age(batch.ages), self.region(batch.regions), history]
        return self.user_mlp(torch.cat(parts, dim=1))

    def items(
        self, ids: torch.Tensor, categories: torch.Tensor, content: torch.Tensor | None
    ) -> torch.Tensor:
        """Item vectors (items x dimension) from item id indices, category codes (items x columns) and content."""
        parts = [self.item_id(ids), *(table(categories[:, j]) for j, table in enumerate(self.categories))]
        if self.content is not None and content is not None:
            parts.append(self.content(content))
        return self.item_mlp(torch.cat(parts, dim=1))


def _mlp(width: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, 2 * out), nn.ReLU(), nn.Linear(2 * out, out))


@dataclass
class UserBatch:
    ids: torch.Tensor
    ages: torch.Tensor
    regions: torch.Tensor
    history_items: torch.Tensor
    history_offsets: torch.Tensor
    history_weights: torch.Tensor


@dataclass
class Features:
    """What the towers read, as numpy arrays aligned with the dataset's users and items."""

    user_ids: np.ndarray  # per user, its id index (0: no training interactions)
    ages: np.ndarray
    regions: np.ndarray
    item_ids: np.ndarray  # per item, its id index (0: never interacted with)
    item_categories: np.ndarray  # items x columns codes (0: unknown)
    content: np.ndarray  # items x content width (float32; may have width 0)

    def user_batch(self, users: np.ndarray, history: sp.csr_matrix) -> UserBatch:
        """Tensors for shoppers ``users`` (-1: a newcomer) whose history rows (weights summing to 1) are given."""
        known = users >= 0
        safe = np.where(known, users, 0)
        history = sp.csr_matrix(history)
        return UserBatch(
            ids=torch.from_numpy(np.where(known, self.user_ids[safe], 0)),
            ages=torch.from_numpy(np.where(known, self.ages[safe], 0)),
            regions=torch.from_numpy(np.where(known, self.regions[safe], 0)),
            history_items=torch.from_numpy(self.item_ids[history.indices].astype(np.int64)),
            history_offsets=torch.from_numpy(history.indptr[:-1].astype(np.int64)),
            history_weights=torch.from_numpy(history.data.astype(np.float32)),
        )

    def item_tensors(self, items: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        content = torch.from_numpy(self.content[items]) if self.content.shape[1] else None
        return (
            torch.from_numpy(self.item_ids[items]),
            torch.from_numpy(self.item_categories[items]),
            content,
        )


@dataclass
class Training:
    """How the towers learn (see ``TwoTower`` for the meaning of each)."""

    objective: str
    epochs: int
    batch_size: int
    learning_rate: float
    negatives: int
    patience: int
    validation_share: float
    seed: int


@dataclass
class Trained:
    towers: Towers
    epoch_seconds: list[float]
    validation_losses: list[float]
    best_epoch: int


def train(
    sizes: TowerSizes,
    features: Features,
    pairs: sp.coo_matrix,
    history_of: Callable[[sp.csr_matrix], sp.csr_matrix],
    settings: Training,
    on_epoch: Callable[[int, float], None] = lambda epoch, loss: None,
) -> Trained:
    """Fit the towers on the positive (user, item) ``pairs``; a share of them is held out for early stopping.

    ``history_of`` turns a users x items matrix of training pairs into history rows (the most recent items,
    weights summing to 1). A pair's own item is taken out of its shopper's history, so the towers learn to
    predict an item from the others rather than to copy it.
    """
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    n_pairs = pairs.nnz
    order = rng.permutation(n_pairs)
    # at least one pair is left to learn from, whatever the share
    n_valid = min(round(n_pairs * settings.validation_share), n_pairs - 1) if n_pairs >= 20 else 0
    valid, fit = order[:n_valid], order[n_valid:]
    users, items, weights = pairs.row, pairs.col, pairs.data
    # The history the towers read while training comes from the training pairs only.
    seen = sp.csr_matrix((weights[fit], (users[fit], items[fit])), shape=pairs.shape)
    history = history_of(seen)
    positives = np.flatnonzero(np.bincount(items[fit], minlength=pairs.shape[1]))
    log_q = _log_frequencies(items[fit], pairs.shape[1])

    towers = Towers(sizes)
    optimiser = _Adam(towers, settings.learning_rate)
    best, best_loss, best_epoch, waited = copy.deepcopy(towers.state_dict()), np.inf, 0, 0
    epoch_seconds: list[float] = []
    losses: list[float] = []
    valid_negatives = rng.choice(positives, size=(len(valid), settings.negatives)) if len(positives) else None
    for epoch in range(1, settings.epochs + 1):
        started = time.perf_counter()
        towers.train()
        rng.shuffle(fit)
        for start in range(0, len(fit), settings.batch_size):
            batch = fit[start : start + settings.batch_size]
            negatives = rng.choice(positives, size=(len(batch), settings.negatives))
            loss = _loss(towers, features, history, users[batch], items[batch], negatives, log_q, settings)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        epoch_seconds.append(time.perf_counter() - started)
        loss_now = _validation_loss(
            towers, features, history, users, items, valid, valid_negatives, log_q, settings
        )
        losses.append(loss_now)
        on_epoch(epoch, loss_now)
        if not len(valid):
            best, best_epoch = copy.deepcopy(towers.state_dict()), epoch
        elif not np.isfinite(best_loss) or loss_now < best_loss - 1e-4 * abs(best_loss):
            best, best_loss, best_epoch, waited = copy.deepcopy(towers.state_dict()), loss_now, epoch, 0
        else:
            waited += 1
            if waited >= settings.patience:
                break
    towers.load_state_dict(best)
    towers.eval()
    return Trained(towers, epoch_seconds, losses, best_epoch)


class _Adam:
    """Adam for the dense layers and its sparse variant for the id tables (the same update, on touched rows)."""

    def __init__(self, towers: Towers, learning_rate: float):
        tables = {id(t.weight) for t in (towers.user_id, towers.item_id, towers.history)}
        sparse = [p for p in towers.parameters() if id(p) in tables]
        dense = [p for p in towers.parameters() if id(p) not in tables]
        self.optimisers = [
            torch.optim.SparseAdam(sparse, lr=learning_rate),
            torch.optim.Adam(dense, lr=learning_rate),
        ]

    def zero_grad(self) -> None:
        for optimiser in self.optimisers:
            optimiser.zero_grad()

    def step(self) -> None:
        for optimiser in self.optimisers:
            optimiser.step()


def _loss(towers, features, history, users, items, negatives, log_q, settings: Training) -> torch.Tensor:
    rows = _leave_out(history[users], items)
    u = towers.users(features.user_batch(users, rows))
    positive = towers.items(*features.item_tensors(items))
    if settings.objective == "softmax":
        # In-batch sampled softmax: the other pairs' items are the negatives. Popular items turn up as negatives
        # more often, so their log-frequency is taken off the logits (the logQ correction).
        logits = u @ positive.T - torch.from_numpy(log_q[items])[None, :]
        same = torch.from_numpy(items[:, None] == items[None, :]) & ~torch.eye(len(items), dtype=torch.bool)
        logits = logits.masked_fill(same, float("-inf"))
        return nn.functional.cross_entropy(logits, torch.arange(len(items)))
    # The seeds' objective: squared error to 1 for what the shopper took, to 0 for sampled items.
    negative = towers.items(*features.item_tensors(negatives.ravel())).view(
        len(items), negatives.shape[1], -1
    )
    scores = torch.cat([(u * positive).sum(1, keepdim=True), torch.einsum("bd,bkd->bk", u, negative)], dim=1)
    targets = torch.zeros_like(scores)
    targets[:, 0] = 1.0
    return nn.functional.mse_loss(scores, targets)


@torch.no_grad()
def _validation_loss(towers, features, history, users, items, valid, negatives, log_q, settings) -> float:
    if not len(valid):
        return float("nan")
    towers.eval()
    total, count = 0.0, 0
    for start in range(0, len(valid), settings.batch_size):
        batch = valid[start : start + settings.batch_size]
        loss = _loss(
            towers,
            features,
            history,
            users[batch],
            items[batch],
            negatives[start : start + len(batch)],
            log_q,
            settings,
        )
        total += float(loss) * len(batch)
        count += len(batch)
    return total / count


def _leave_out(rows: sp.csr_matrix, items: np.ndarray) -> sp.csr_matrix:
    """History rows without each row's own target item, weights summing to 1 again."""
    rows = sp.csr_matrix(rows, copy=True)
    owner = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    rows.data[rows.indices == items[owner]] = 0.0
    rows.eliminate_zeros()
    return sum_to_one(rows)


def sum_to_one(rows: sp.csr_matrix) -> sp.csr_matrix:
    """Each row scaled so its weights sum to 1 (empty rows stay empty)."""
    totals = np.asarray(rows.sum(axis=1)).ravel()
    scale = np.divide(1.0, totals, out=np.zeros_like(totals, dtype=np.float64), where=totals > 0)
    return sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ rows, dtype=np.float32)


def _log_frequencies(items: np.ndarray, n_items: int) -> np.ndarray:
    counts = np.bincount(items, minlength=n_items).astype(np.float64) + 1.0
    return np.log(counts / counts.sum()).astype(np.float32)
