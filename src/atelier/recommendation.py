"""What every widget answers with: a product, its score, the source that produced it and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass

MAX_N = 1_000  # a list longer than this is a mistake (or an attack), not a widget


@dataclass(frozen=True)
class Recommendation:
    """One recommended product and why; the rule figures are set when a pair rule produced it."""

    product_id: str
    score: float
    source: str
    reason: str
    support: float | None = None
    confidence: float | None = None
    lift: float | None = None
    count: int | None = None

    def as_dict(self) -> dict:
        """JSON-ready, figures rounded to 6 significant digits."""
        return {k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in asdict(self).items()}
