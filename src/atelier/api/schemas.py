"""The API's answers and query parameters as pydantic models: what the OpenAPI schema shows."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, ConfigDict, Field

from atelier.recommendation import MAX_N, Recommendation

HOW_MANY = Field(10, ge=1, le=MAX_N, description="how many picks")


# A pick is the engine's own Recommendation (a dataclass pydantic reads): one definition of its fields.
class ProductPicks(BaseModel):
    product_id: str
    recommendations: list[Recommendation]


class UserPicks(BaseModel):
    user_id: str
    path: str
    recommendations: list[Recommendation]


class Product(BaseModel):
    product_id: str
    title: str | None = None
    brand: str | None = None
    department: str | None = None
    color: str | None = None
    target_audience: str | None = None
    price: float | None = None
    currency: str | None = None
    is_available: bool | None = None
    image_urls: list[str] | None = None
    has_picture: bool = False


# Each widget's query parameters as one model: FastAPI validates a model in one pass, where it spends about as
# long on each separate parameter as on the rest of a cached answer. Frozen, so an answer can be cached by it.
class TogetherQuery(BaseModel):
    model_config = ConfigDict(frozen=True)
    n: int = HOW_MANY
    in_stock: bool = Field(False, description="only products in stock")
    exclude_department: bool = Field(False, description="no picks from the product's own department")


class SimilarQuery(BaseModel):
    model_config = ConfigDict(frozen=True)
    n: int = HOW_MANY
    model: str | None = Field(None, max_length=100, description="a trained encoder (default: the first)")
    in_stock: bool = Field(False, description="only products in stock")
    same_audience: bool = Field(False, description="only products for the product's own audience")
    price_min: float | None = Field(None, ge=0)
    price_max: float | None = Field(None, ge=0)


class PersonalQuery(BaseModel):
    n: int = HOW_MANY
    method: str | None = Field(None, max_length=100, description="for a known shopper")
    age_group: str | None = Field(None, max_length=100)
    region: str | None = Field(None, max_length=200)
    department: str | None = Field(None, max_length=200)
    in_stock: bool = Field(False, description="only products in stock")
    keep_bought: bool = Field(False, description="may pick what the shopper already bought")


class Health(BaseModel):
    status: str
    version: str
    artifacts: str
    widgets: list[str]
    generation: int = Field(description="which of the store's served folders (0: none recorded)")
    worker: int = Field(description="the process id of the worker that answered")


def wire(picks: list[Recommendation]) -> list[Recommendation]:
    """The picks with their figures rounded for the wire."""
    return [Recommendation(**p.as_dict()) for p in picks]


def source_counts(picks: list[Recommendation]) -> tuple[tuple[str, int], ...]:
    """(source, how many of the picks it produced) pairs: what the metrics count."""
    return tuple(Counter(p.source for p in picks).items())


def product_answer(product_id: str, picks: list[Recommendation]) -> tuple[bytes, tuple[tuple[str, int], ...]]:
    """A product widget's finished answer: (the JSON body, its source counts for the metrics)."""
    body = ProductPicks(product_id=product_id, recommendations=wire(picks)).model_dump_json().encode()
    return body, source_counts(picks)
